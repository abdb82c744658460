# Copyright: kubebin.cluster developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of roles/common/files/kubebin_reset.py (the host helper of reset.yml)."""
import importlib.util
import json
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'common' / 'files' / 'kubebin_reset.py'
_SPEC = importlib.util.spec_from_file_location('kubebin_reset', _PATH)
reset = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(reset)

NAT = '''\
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-ABC - [0:0]
:FLANNEL-POSTRTG - [0:0]
:DOCKER - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment kubebin-pod-masquerade -j MASQUERADE
-A POSTROUTING -j DOCKER
-A KUBE-SERVICES -j KUBE-SVC-ABC
-A DOCKER -j RETURN
-A FLANNEL-POSTRTG -j RETURN'''.splitlines()


def test_kube_chains_and_their_jumps_only():
    kept, dropped = reset._clean_table(NAT, ('KUBE-',), set())
    assert [ln for ln in dropped if ln.startswith(':')] == [':KUBE-SERVICES - [0:0]', ':KUBE-SVC-ABC - [0:0]']
    assert len(dropped) == 4  # two chains, the PREROUTING jump, the rule inside KUBE-SERVICES
    assert '-A POSTROUTING -j DOCKER' in kept and ':DOCKER - [0:0]' in kept
    assert any('FLANNEL-POSTRTG' in ln for ln in kept)


def test_flannel_chains_and_comment_rule():
    kept, dropped = reset._clean_table(NAT, ('FLANNEL-', 'cali-'), {'kubebin-pod-masquerade'})
    assert not any('FLANNEL' in ln or 'kubebin-pod-masquerade' in ln for ln in kept)
    assert len(dropped) == 4
    assert sum(1 for ln in kept if 'KUBE-' in ln) == 4


def test_nothing_of_ours_changes_nothing():
    lines = [':INPUT ACCEPT [0:0]', '-A INPUT -m comment --comment "KUBE-like text" -j ACCEPT']
    assert reset._clean_table(lines, ('KUBE-',), set()) == (lines, [])


def test_rule_fields_quoted_comment():
    assert reset._rule_fields('-A X -m comment --comment "a b; c" -g KUBE-Y') == ('X', 'KUBE-Y', 'a b; c')


def test_remove_refuses_root_and_relative(tmp_path, capsys):
    for bad in ('/', 'relative/path', ''):
        try:
            reset.remove([bad], True, [])
        except RuntimeError as exc:
            assert 'refusing' in str(exc)
        else:
            raise AssertionError('removed %r' % bad)


def test_remove_and_glob_dry_run_and_real(tmp_path):
    (tmp_path / 'etcd-v1').mkdir()
    (tmp_path / 'etcd-v2').write_text('x')
    (tmp_path / 'keep').write_text('x')
    actions = []
    reset.remove([str(tmp_path / 'etcd-v*'), str(tmp_path / 'absent')], True, actions)
    assert len(actions) == 2 and (tmp_path / 'etcd-v1').exists()
    actions = []
    reset.remove([str(tmp_path / 'etcd-v*')], False, actions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['keep']
    actions = []
    reset.remove([str(tmp_path / 'etcd-v*')], False, actions)
    assert actions == []


def test_remove_if_empty(tmp_path):
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'f').write_text('x')
    (tmp_path / 'empty').mkdir()
    actions = []
    reset.remove_if_empty([str(tmp_path / 'full'), str(tmp_path / 'empty'), str(tmp_path / 'absent')], False, actions)
    assert actions == ['rmdir %s' % (tmp_path / 'empty')]
    assert (tmp_path / 'full').exists() and not (tmp_path / 'empty').exists()


def test_main_reports_json(monkeypatch, capsys, tmp_path):
    (tmp_path / 'x').write_text('x')
    monkeypatch.setattr('sys.argv', ['kubebin_reset.py', json.dumps({'remove': [str(tmp_path / 'x')], 'dry_run': True})])
    reset.main()
    out = json.loads(capsys.readouterr().out)
    assert out['changed'] is True and out['actions'] == ['remove %s' % (tmp_path / 'x')]
    assert (tmp_path / 'x').exists()
