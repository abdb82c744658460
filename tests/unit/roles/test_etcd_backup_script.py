# Copyright: kubebin.cluster developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/etcd/templates/kubebin-etcd-backup.sh.j2 (the scheduled snapshot script), rendered and run
with stand-ins for etcdctl, etcdutl and date: the file names, modes, .sha256, retention, and a
snapshot that does not verify. The real tools are exercised on the lab (tests/e2e/backup_restore_e2e.sh)."""
import hashlib
import os
import pathlib
import shlex
import stat
import subprocess

import jinja2

_TEMPLATE = pathlib.Path(__file__).resolve().parents[3] / 'roles' / 'etcd' / 'templates' / 'kubebin-etcd-backup.sh.j2'

FAKES = {
    # etcdctl ... snapshot save PATH: writes like etcdctl (PATH.part, then renamed)
    'etcdctl': '#!/bin/sh\nfor a; do last=$a; done\nhead -c 4096 /dev/urandom > "$last.part" && mv "$last.part" "$last"\n',
    # etcdutl snapshot status PATH -w json: fails when $FAKE_ETCDUTL_FAIL is set
    'etcdutl': '#!/bin/sh\n[ -z "$FAKE_ETCDUTL_FAIL" ] || { echo "snapshot file corrupt" >&2; exit 1; }\n'
               'echo \'{"hash":1,"revision":7,"totalKey":3,"totalSize":4096}\'\n',
    # date -u +FORMAT: one second later on each call
    'date': '#!/bin/sh\nn=$(cat "$FAKE_CLOCK" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_CLOCK"\n'
            'printf "20261202T%06dZ\\n" "$n"\n',
}


def _script(tmp_path: pathlib.Path, keep: int) -> tuple[pathlib.Path, pathlib.Path, dict]:
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    for name, body in FAKES.items():
        (bindir / name).write_text(body)
        (bindir / name).chmod(0o755)
    env = jinja2.Environment(keep_trailing_newline=True)
    env.filters['quote'] = lambda v: shlex.quote(str(v))
    text = env.from_string(_TEMPLATE.read_text()).render(
        ansible_managed='test', etcd_name='etcd1', inventory_hostname='etcd1', kubebin_cluster_name='kubebin',
        etcd_backup_timer_dir=str(tmp_path / 'scheduled'), etcd_backup_timer_keep=keep, etcd_bin_dir=str(bindir),
        etcd_pki_dir='/etc/etcd/pki', etcd_client_port=2379)
    script = tmp_path / 'kubebin-etcd-backup'
    script.write_text(text)
    script.chmod(0o700)
    environ = {'PATH': f'{bindir}:/usr/bin:/bin', 'FAKE_CLOCK': str(tmp_path / 'clock')}
    return script, tmp_path / 'scheduled', environ


def _run(script, environ, **extra):
    return subprocess.run([str(script)], env={**environ, **extra}, capture_output=True, text=True, timeout=60, check=False)


def test_snapshots_verified_kept_and_pruned(tmp_path):
    script, sdir, environ = _script(tmp_path, keep=3)
    for _run_no in range(4):
        assert _run(script, environ).returncode == 0
    names = sorted(p.name for p in sdir.iterdir())
    dbs = [n for n in names if n.endswith('.db')]
    # the oldest (second 0) pruned with its .sha256, the newest three kept, nothing half-written
    assert dbs == [f'kubebin-etcd1-20261202T00000{i}Z.db' for i in (1, 2, 3)]
    assert names == sorted(dbs + [d + '.sha256' for d in dbs])
    assert stat.S_IMODE(sdir.stat().st_mode) == 0o700
    for db in dbs:
        path = sdir / db
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE((sdir / (db + '.sha256')).stat().st_mode) == 0o600
        assert (sdir / (db + '.sha256')).read_text() == f'{hashlib.sha256(path.read_bytes()).hexdigest()}  {db}\n'


def test_a_snapshot_that_does_not_verify_is_deleted_and_the_run_fails(tmp_path):
    script, sdir, environ = _script(tmp_path, keep=2)
    assert _run(script, environ).returncode == 0
    bad = _run(script, environ, FAKE_ETCDUTL_FAIL='1')
    assert bad.returncode == 1
    assert 'does not verify' in bad.stderr
    # only the first run's snapshot and its .sha256: the failed one left no file (nor .part)
    assert sorted(os.listdir(sdir)) == ['kubebin-etcd1-20261202T000000Z.db', 'kubebin-etcd1-20261202T000000Z.db.sha256']
