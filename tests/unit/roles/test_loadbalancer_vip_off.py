# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubebin.cluster.loadbalancer entry point vip_off (roles/loadbalancer/tasks/vip_off.yml), run
by ansible-playbook on localhost: the VIP switched off on a host where the role had set up
keepalived stops and disables keepalived and removes keepalived.conf and the check script;
where it never was on, nothing happens (changed=0); check mode changes nothing.

systemctl is a stand-in on PATH (this machine runs no systemd) that keeps keepalived's state
in a JSON file and logs every call; the lab proves the real thing (tests/e2e/vip_e2e.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.kubebin.cluster.tests.unit.layout import ROOT

FAKE_SYSTEMCTL = r'''#!%(python)s
import json, sys
state_file, log = %(state)r, %(log)r
with open(log, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\n")
st = json.load(open(state_file))
args = [a for a in sys.argv[1:] if not a.startswith("-")]
unit = args[-1].replace(".service", "") if len(args) > 1 else ""
args += [a for a in sys.argv[1:] if a == "--value"]
if unit != "keepalived" or not st["loaded"]:
    if "show" in args:
        if "--value" in args:
            print("not-found")
        else:
            print("Id=%%s.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead" %% unit)
        sys.exit(0)
    sys.exit(4)
cmd = args[0]
if cmd == "show":
    if "--value" in args:
        print("loaded")
    else:
        print("Id=keepalived.service\nNames=keepalived.service\nLoadState=loaded\nActiveState=%%s\nSubState=%%s\n"
              "UnitFileState=%%s\nDescription=keepalived" %% (
                  "active" if st["active"] else "inactive", "running" if st["active"] else "dead",
                  "enabled" if st["enabled"] else "disabled"))
elif cmd == "is-enabled":
    print("enabled" if st["enabled"] else "disabled")
    sys.exit(0 if st["enabled"] else 1)
elif cmd == "is-active":
    print("active" if st["active"] else "inactive")
    sys.exit(0 if st["active"] else 3)
elif cmd == "stop":
    st["active"] = False
elif cmd == "disable":
    st["enabled"] = False
json.dump(st, open(state_file, "w"))
'''


def _ansible_playbook():
    return shutil.which('ansible-playbook', path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))


@pytest.fixture
def host(tmp_path):
    if ROOT.parent.name != 'kubebin' or ROOT.parents[1].name != 'ansible_collections':
        pytest.skip('needs the collection layout (make unit)')
    if _ansible_playbook() is None:
        pytest.skip('ansible-playbook not installed')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    state, log = tmp_path / 'keepalived.json', tmp_path / 'systemctl.log'
    fake = bin_dir / 'systemctl'
    fake.write_text(FAKE_SYSTEMCTL % {'python': sys.executable, 'state': str(state), 'log': str(log)})
    fake.chmod(0o755)
    log.write_text('')
    paths = {
        'conf': tmp_path / 'etc' / 'keepalived.conf',
        'dir': tmp_path / 'lib' / 'kubebin-vip',
        'script': tmp_path / 'lib' / 'kubebin-vip' / 'check-apiserver',
    }
    playbook = tmp_path / 'vip_off.yml'
    playbook.write_text(
        '- hosts: localhost\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - ansible.builtin.include_role:\n'
        '        name: kubebin.cluster.loadbalancer\n'
        '        tasks_from: vip_off\n'
        '      vars:\n'
        '        loadbalancer_vip_config_file: %s\n' % paths['conf'])

    def setup(configured=True, loaded=True, active=True, enabled=True):
        state.write_text(json.dumps({'loaded': loaded, 'active': active, 'enabled': enabled}))
        if configured:
            paths['conf'].parent.mkdir(parents=True, exist_ok=True)
            paths['conf'].write_text('vrrp_instance kubebin_apiserver {}\n')
            paths['dir'].mkdir(parents=True, exist_ok=True)
            paths['script'].write_text('#!/bin/sh\n')

    def run(*extra):
        log.write_text('')
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT.parents[2]), ANSIBLE_NOCOLOR='1',
                   ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                   PATH=str(bin_dir) + os.pathsep + os.environ.get('PATH', ''))
        proc = subprocess.run(
            [_ansible_playbook(), '-i', 'localhost,', '-c', 'local', str(playbook),
             '-e', '_loadbalancer_vip_check_script=%s' % paths['script'],
             '-e', '_loadbalancer_vip_dir=%s' % paths['dir'], *extra],
            capture_output=True, text=True, env=env, timeout=300, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        recap = re.search(r'localhost\s*:\s*ok=(\d+)\s+changed=(\d+)', out)
        assert recap, out
        return int(recap.group(2)), [line.split() for line in log.read_text().splitlines()], json.loads(state.read_text()), out

    return setup, run, paths


def test_never_on_is_one_stat_and_no_change(host):
    setup, run, paths = host
    setup(configured=False)
    changed, calls, state, out = run()
    assert changed == 0, out
    assert calls == [], out
    assert state == {'loaded': True, 'active': True, 'enabled': True}


def test_switched_off_stops_disables_and_removes_then_changes_nothing(host):
    setup, run, paths = host
    setup()
    changed, calls, state, out = run()
    assert changed >= 2, out
    assert ['stop', 'keepalived'] in [c[-2:] for c in calls], calls
    assert state == {'loaded': True, 'active': False, 'enabled': False}, out
    assert not paths['conf'].exists() and not paths['dir'].exists(), out
    changed, calls, state, out = run()
    assert changed == 0, out
    assert calls == [], out


def test_check_mode_reports_and_changes_nothing(host):
    setup, run, paths = host
    setup()
    changed, calls, state, out = run('--check')
    assert changed >= 2, out
    assert not [c for c in calls if c and c[0] in ('stop', 'disable')], calls
    assert state == {'loaded': True, 'active': True, 'enabled': True}
    assert paths['conf'].exists() and paths['script'].exists()


def test_missing_unit_still_removes_the_files(host):
    """keepalived's package removed by hand: no stop (no unit), the files go."""
    setup, run, paths = host
    setup(loaded=False)
    changed, calls, state, out = run()
    assert changed >= 1, out
    assert not [c for c in calls if c and c[0] in ('stop', 'disable')], calls
    assert not paths['conf'].exists() and not paths['dir'].exists(), out
