# Copyright: kubebin.cluster developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Playbooks call only declared entry points and set only documented variables.

docs/using-roles.md: a role's interface is its ``meta/argument_specs.yml``. This test reads
the YAML (plain PyYAML, no Ansible) and fails, naming the file and line, when

- an ``include_role``/``import_role`` with ``tasks_from`` (in a playbook, a role, a molecule
  scenario or an e2e playbook) names an entry point that the role's argument_specs does not
  declare, spells it ``x.yml`` instead of ``x``, or templates it;
- a playbook includes or imports a task file under ``roles/`` directly;
- a playbook (``playbooks/``, the root wrappers, molecule scenarios, tests/e2e) reads or sets
  a role's internal ``_<role>_*`` name (its own ``_renew_*``, ``_upgrade_*`` names are its
  business);
- an entry point's option differs in type, elements, default or choices from the ``main``
  option of the same name (they are copies, kept equal).

The last test runs ansible-playbook on localhost to show that ansible-core really validates
an entry point's options (a wrong type fails naming the variable).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.kubebin.cluster.tests.unit.layout import ROLES, ROOT, internal_names
from ansible_collections.kubebin.cluster.tests.unit.yaml_lines import LineLoader as _Loader

PREFIX = 'kubebin.cluster.'
CALLERS = (
    'playbooks/*.yml', 'playbooks/tasks/*.yml', '*.yml',
    'roles/*/tasks/*.yml', 'roles/*/handlers/*.yml',
    'molecule/*/*.yml', 'tests/e2e/*.yml',
)
PLAYBOOKS = ('playbooks/*.yml', 'playbooks/tasks/*.yml', '*.yml', 'molecule/*/*.yml', 'tests/e2e/*.yml')
ROLE_ACTIONS = {'include_role', 'import_role', 'ansible.builtin.include_role', 'ansible.builtin.import_role'}
TASK_ACTIONS = {'include_tasks', 'import_tasks', 'ansible.builtin.include_tasks', 'ansible.builtin.import_tasks'}
COMPARED = ('type', 'elements', 'default', 'choices')


def _files(patterns):
    seen = []
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and path not in seen:
                seen.append(path)
    return seen


def _load(path):
    return yaml.load(path.read_text(encoding='utf-8'), Loader=_Loader)  # noqa: S506 (a SafeLoader)


def _mappings(data):
    """Every mapping in the document, depth first (plays, tasks, blocks, vars)."""
    if isinstance(data, dict):
        yield data
        for key, value in data.items():
            if key != '__line__':
                yield from _mappings(value)
    elif isinstance(data, list):
        for item in data:
            yield from _mappings(item)


def _strings(data, line=0):
    """Every key and string value of the document, with the line of its mapping."""
    if isinstance(data, dict):
        line = data.get('__line__', line)
        for key, value in data.items():
            if key == '__line__':
                continue
            yield line, str(key)
            if isinstance(value, str):
                yield line, value
            else:
                yield from _strings(value, line)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, str):
                yield line, item
            else:
                yield from _strings(item, line)


def _specs(role):
    path = ROOT / 'roles' / role / 'meta' / 'argument_specs.yml'
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding='utf-8')).get('argument_specs') or {}


def _role_names(name, task, where):
    """The roles an include names: kubebin.cluster.<role>, or a template over a loop whose
    expression names the candidates ("kubebin.cluster.{{ item }}" over ['etcd'] + ['master'])."""
    name = str(name)
    if '{{' not in name:
        return [name[len(PREFIX):] if name.startswith(PREFIX) else name]
    loop = str(task.get('loop', task.get('with_items', '')))
    found = [r for r in ROLES if re.search(r"""['"]%s['"]""" % re.escape(r), loop)]
    assert found, '%s: cannot tell which roles "%s" names (no literal role names in its loop)' % (where, name)
    return found


def _calls():
    """(where, role, tasks_from) of every include_role/import_role with tasks_from."""
    out = []
    for path in _files(CALLERS):
        rel = path.relative_to(ROOT)
        for task in _mappings(_load(path)):
            for action in ROLE_ACTIONS & set(task):
                args = task[action]
                if not isinstance(args, dict) or 'tasks_from' not in args:
                    continue
                where = '%s:%s' % (rel, task.get('__line__'))
                for role in _role_names(args.get('name', ''), task, where):
                    out.append((where, role, str(args['tasks_from'])))
    return out


def test_the_callers_are_found():
    calls = _calls()
    # a guard against a walker that silently finds nothing: reset.yml alone calls 6 of them
    assert len(calls) >= 20, calls
    assert {'etcd', 'master', 'node', 'common'} <= {call[1] for call in calls}


def test_every_tasks_from_is_a_declared_entry_point():
    bad = []
    for where, role, entry in _calls():
        if '{{' in entry:
            bad.append('%s: tasks_from %r is a template; name a declared entry point' % (where, entry))
            continue
        if entry.endswith(('.yml', '.yaml')):
            bad.append('%s: tasks_from %r: write the entry point name, %r' % (where, entry, entry.rsplit('.', 1)[0]))
            entry = entry.rsplit('.', 1)[0]
        if role not in ROLES:
            continue  # another collection's role
        if entry not in _specs(role):
            bad.append('%s: %s tasks_from %s has no entry in roles/%s/meta/argument_specs.yml' % (where, role, entry, role))
        if not (ROOT / 'roles' / role / 'tasks' / (entry + '.yml')).is_file():
            bad.append('%s: roles/%s/tasks/%s.yml does not exist' % (where, role, entry))
    assert not bad, '\n'.join(bad)


def test_every_entry_point_has_its_task_file_and_a_description():
    bad = []
    for role in ROLES:
        for entry, spec in _specs(role).items():
            if not (ROOT / 'roles' / role / 'tasks' / (entry + '.yml')).is_file():
                bad.append('roles/%s: entry point %s has no tasks/%s.yml' % (role, entry, entry))
            if not spec.get('short_description') or not spec.get('description'):
                bad.append('roles/%s: entry point %s needs short_description and description' % (role, entry))
            if not isinstance(spec.get('options'), dict):
                bad.append('roles/%s: entry point %s needs options (may be {})' % (role, entry))
    assert not bad, '\n'.join(bad)


def test_entry_point_options_equal_the_main_ones():
    bad = []
    for role in ROLES:
        specs = _specs(role)
        main = (specs.get('main') or {}).get('options') or {}
        for entry, spec in specs.items():
            if entry == 'main':
                continue
            for name, option in (spec.get('options') or {}).items():
                if name not in main:
                    continue
                for field in COMPARED:
                    if option.get(field) != main[name].get(field):
                        bad.append('roles/%s: %s option %s: %s %r, main has %r'
                                   % (role, entry, name, field, option.get(field), main[name].get(field)))
    assert not bad, '\n'.join(bad)


def test_playbooks_include_no_role_task_file():
    bad = []
    for path in _files(PLAYBOOKS):
        rel = path.relative_to(ROOT)
        for task in _mappings(_load(path)):
            for action in TASK_ACTIONS & set(task):
                target = task[action]
                target = target.get('file', '') if isinstance(target, dict) else str(target)
                if re.search(r'(^|/)roles/', target):
                    bad.append('%s:%s: %s %s reaches into a role; call a declared entry point (include_role tasks_from)'
                               % (rel, task.get('__line__'), action, target))
    assert not bad, '\n'.join(bad)


def test_playbooks_use_no_role_internals():
    bad = []
    for path in _files(PLAYBOOKS):
        rel = path.relative_to(ROOT)
        for line, text in _strings(_load(path)):
            for name in internal_names(text):
                bad.append('%s:%s: %s is internal to a role; use a documented variable or an entry point option'
                           % (rel, line, name))
    assert not bad, '\n'.join(sorted(set(bad)))


def test_the_internal_name_pattern():
    assert internal_names("{{ hostvars[h]._etcd_member.client_url }} {{ _master_csr_approver_removed }}") == [
        '_etcd_member', '_master_csr_approver_removed']
    assert not internal_names('{{ _upgrade_node_state }} {{ _renew_master }} {{ etcd_snapshot_host }}')


def _ansible_playbook():
    exe = shutil.which('ansible-playbook', path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    return exe


@pytest.mark.skipif(_ansible_playbook() is None, reason='ansible-playbook not installed')
@pytest.mark.parametrize('value, ok', [('cluster', True), ('everything', False)])
def test_ansible_validates_an_entry_point(tmp_path, value, ok):
    """kubebin.cluster.etcd tasks_from: health on localhost (after the common role, a
    dependency; etcdctl absent: healthy false, nothing fails), once with a valid and once with
    an invalid etcd_health_scope."""
    collections = ROOT.parents[2]  # .../ansible_collections/kubebin/cluster -> the collections path
    if ROOT.parent.name != 'kubebin' or ROOT.parents[1].name != 'ansible_collections':
        pytest.skip('needs the collection layout (make unit)')
    playbook = tmp_path / 'entry.yml'
    playbook.write_text(
        '- hosts: localhost\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - ansible.builtin.include_role:\n'
        '        name: kubebin.cluster.etcd\n'
        '        tasks_from: health\n'
        '      vars:\n'
        '        etcd_health_scope: %s\n'
        '        etcd_bin_dir: %s\n'
        '        etcd_pki_dir: %s\n'
        '    - ansible.builtin.assert:\n'
        '        that: not etcd_health_result.healthy\n' % (value, tmp_path, tmp_path))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_INVENTORY_UNPARSED_WARNING='0',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    run = subprocess.run([_ansible_playbook(), '-i', 'localhost,', '-c', 'local', str(playbook)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    output = run.stdout + run.stderr
    if ok:
        assert run.returncode == 0, output
        assert "Validating arguments against arg spec 'health'" in output, output
    else:
        assert run.returncode != 0, output
        assert 'Validation of arguments failed' in output, output
        assert 'value of etcd_health_scope must be one of: member, cluster, got: everything' in output, output
