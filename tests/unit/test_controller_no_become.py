# Copyright: kubebin.cluster developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nothing that runs on the controller may escalate (docs: "Who runs it").

Operators run the playbooks as an ordinary user, often without sudo on the controller, and
reach the hosts with ``ansible_become: true`` or a play-level ``become: true``. Both are
inherited by tasks delegated to the controller unless they say ``become: false``. This test
reads every task file, handler file and playbook (plain PyYAML, no Ansible) and names each
controller task -- ``delegate_to: localhost``/``127.0.0.1``, ``local_action``,
``connection: local``, or any task of a ``hosts: localhost`` play -- whose effective
``become`` (its own, else the enclosing block's, else the play's) is not false. Blocks,
rescue and always are walked recursively; a block-level ``become: false`` covers its tasks.
"""
import pytest
import yaml

from ansible_collections.kubebin.cluster.tests.unit.layout import ROOT
from ansible_collections.kubebin.cluster.tests.unit.yaml_lines import LineLoader as _Loader

PATTERNS = (
    'roles/*/tasks/*.yml',
    'roles/*/handlers/*.yml',
    'playbooks/*.yml',
    'playbooks/tasks/*.yml',
    'tests/e2e/*.yml',
)
LOCAL_HOSTS = {'localhost', '127.0.0.1', '::1'}
TASK_LISTS = ('pre_tasks', 'tasks', 'post_tasks', 'handlers')
BLOCK_LISTS = ('block', 'rescue', 'always')
FALSE_WORDS = {'false', 'no', 'off', '0'}


def _is_false(value):
    return value is False or (isinstance(value, str) and value.strip().lower() in FALSE_WORDS)


def _is_local(host):
    return isinstance(host, str) and host.strip() in LOCAL_HOSTS


def _play_hosts_local(hosts):
    if isinstance(hosts, str):
        hosts = [h for h in hosts.replace(',', ':').split(':') if h]
    return bool(hosts) and all(_is_local(h) for h in hosts)


def _walk(tasks, where, controller, become_false, out):
    """Append "<where>:<line>: <task name>" for every controller task that may escalate.

    controller / become_false are what the enclosing play or block gives each task."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        delegate = task.get('delegate_to')
        runs_local = (
            _is_local(delegate)
            or 'local_action' in task
            or task.get('connection') == 'local'
            or (controller and delegate is None)
        )
        own = task.get('become')
        no_become = _is_false(own) if 'become' in task else become_false
        if any(k in task for k in BLOCK_LISTS):
            for key in BLOCK_LISTS:
                _walk(task.get(key), where, runs_local, no_become, out)
            continue
        if runs_local and not no_become:
            out.append('%s:%s: %s' % (where, task.get('__line__', '?'), task.get('name', '<unnamed task>')))


def controller_tasks_that_may_escalate(documents, where):
    """The offending tasks of one parsed YAML file (a playbook or a task/handler list)."""
    out = []
    if not isinstance(documents, list):
        return out
    is_playbook = any(isinstance(d, dict) and ('hosts' in d or 'import_playbook' in d) for d in documents)
    if not is_playbook:
        _walk(documents, where, False, False, out)
        return out
    for play in documents:
        if not isinstance(play, dict) or 'hosts' not in play:
            continue
        controller = _play_hosts_local(play.get('hosts')) or play.get('connection') == 'local'
        become_false = _is_false(play['become']) if 'become' in play else False
        for key in TASK_LISTS:
            _walk(play.get(key), '%s (play %r, %s)' % (where, play.get('name', play.get('hosts')), key),
                  controller, become_false, out)
    return out


def _files():
    found = sorted({p for pattern in PATTERNS for p in ROOT.glob(pattern)})
    return [p for p in found if p.is_file()]


def _check_text(text, where='snippet.yml'):
    return controller_tasks_that_may_escalate(yaml.load(text, Loader=_Loader), where)


def test_the_audit_sees_the_collection():
    files = [p.relative_to(ROOT).as_posix() for p in _files()]
    for expected in ('roles/node/tasks/join.yml', 'roles/master/handlers/main.yml', 'playbooks/upgrade.yml',
                     'playbooks/tasks/upgrade_drain_failed.yml', 'tests/e2e/verify_workloads.yml'):
        assert expected in files


@pytest.mark.parametrize('path', _files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_controller_task_escalates(path):
    rel = path.relative_to(ROOT).as_posix()
    bad = controller_tasks_that_may_escalate(yaml.load(path.read_text(), Loader=_Loader), rel)
    assert not bad, 'controller tasks without become: false (they would ask the controller for sudo):\n  ' + '\n  '.join(bad)


# ----------------------------------------------------------------------------- the checker itself
BAD_PLAYBOOK = '''
- name: A play that escalates on the hosts
  hosts: masters
  become: true
  tasks:
    - name: Fine, on the host
      ansible.builtin.command: id
    - name: Delegated without become false
      ansible.builtin.command: id
      delegate_to: localhost
    - name: A block
      become: false
      block:
        - name: Covered by the block
          ansible.builtin.command: id
          delegate_to: localhost
        - name: Re-enabled inside the block
          ansible.builtin.command: id
          delegate_to: 127.0.0.1
          become: true
      rescue:
        - name: Nested block in rescue
          block:
            - name: Rescue task covered by the outer block
              ansible.builtin.command: id
              delegate_to: localhost
      always:
        - name: Local action in always, still covered
          local_action: ansible.builtin.command id
    - name: Block delegated to the controller
      delegate_to: localhost
      block:
        - name: Inherits the delegation and the play's become
          ansible.builtin.command: id
    - name: Delegated to a host
      ansible.builtin.command: id
      delegate_to: "{{ kubebin_api_host }}"
    - name: Local action outside any block
      local_action:
        module: ansible.builtin.command
        cmd: id
  handlers:
    - name: Handler on the controller
      ansible.builtin.command: id
      delegate_to: localhost
      listen: something

- name: A controller play
  hosts: localhost
  tasks:
    - name: Controller play task without become false
      ansible.builtin.command: id
    - name: Controller play task with become false
      ansible.builtin.command: id
      become: false
    - name: Delegated from the controller play to a host
      ansible.builtin.command: id
      delegate_to: node1

- name: A controller play that says become false
  hosts: 127.0.0.1
  become: false
  tasks:
    - name: Inherits the play's become false
      ansible.builtin.command: id
'''


def test_checker_names_every_bad_task():
    bad = _check_text(BAD_PLAYBOOK)
    names = sorted(b.split(': ', 1)[1] for b in bad)
    assert names == sorted([
        'Delegated without become false',
        'Re-enabled inside the block',
        'Inherits the delegation and the play\'s become',
        'Local action outside any block',
        'Handler on the controller',
        'Controller play task without become false',
    ])
    # each report names the file, the play and the line
    assert all(b.startswith('snippet.yml (play ') for b in bad)
    assert any("play 'A play that escalates on the hosts', tasks):8: Delegated without become false" in b for b in bad)


def test_checker_on_a_task_file():
    tasks = '''
- name: Good
  ansible.builtin.file: {path: /tmp/x, state: directory}
  delegate_to: localhost
  become: no
- name: Bad, only run_once
  ansible.builtin.file: {path: /tmp/x, state: directory}
  delegate_to: localhost
  run_once: true
- name: Unsafe tags parse
  ansible.builtin.debug: {msg: !unsafe "{{ not templated }}"}
  connection: local
'''
    assert _check_text(tasks, 'roles/x/tasks/main.yml') == [
        'roles/x/tasks/main.yml:6: Bad, only run_once',
        'roles/x/tasks/main.yml:10: Unsafe tags parse',
    ]


def test_checker_accepts_a_clean_file():
    assert _check_text('''
- name: Clean
  hosts: all
  tasks:
    - name: Controller, not escalating
      ansible.builtin.stat: {path: /tmp}
      delegate_to: localhost
      become: false
''') == []
