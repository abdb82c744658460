# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the file filters (plugins/filter/files.py)."""

from __future__ import annotations

import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubebin.cluster.plugins.filter import files

CONF = "# Managed\noverlay\n"
SHA = hashlib.sha256(CONF.encode()).hexdigest()


def state(**over):
    base = {
        "/etc/a": "dir root root 755",
        "/etc/a/conf": f"{SHA} root root 644",
        "/etc/a/key": f"{SHA} root root 600",
    }
    base.update(over)
    return base


FILES = [{"dest": "/etc/a/conf", "content": CONF}, {"dest": "/etc/a/key", "content": CONF, "mode": "0600"}]
DIRS = [{"path": "/etc/a"}]


def test_a_converged_host_has_nothing_to_write():
    assert files.paths_to_write(state(), FILES, DIRS) == []


def test_edited_content_mode_owner_and_missing_paths_differ():
    assert files.paths_to_write(state(**{"/etc/a/conf": f"{'0' * 64} root root 644"}), FILES, DIRS) == ["/etc/a/conf"]
    assert files.paths_to_write(state(**{"/etc/a/key": f"{SHA} root root 644"}), FILES, DIRS) == ["/etc/a/key"]
    assert files.paths_to_write(state(**{"/etc/a/key": f"{SHA} kubebin root 600"}), FILES, DIRS) == ["/etc/a/key"]
    assert files.paths_to_write(state(**{"/etc/a": "absent", "/etc/a/conf": "absent"}), FILES, DIRS) == ["/etc/a", "/etc/a/conf"]
    assert files.paths_to_write({}, FILES) == ["/etc/a/conf", "/etc/a/key"]


def test_a_symlink_or_a_directory_mode_differs():
    assert files.paths_to_write(state(**{"/etc/a/conf": "other"}), FILES) == ["/etc/a/conf"]
    assert files.paths_to_write(state(**{"/etc/a": "dir root root 700"}), [], DIRS) == ["/etc/a"]
    assert files.paths_to_write(state(**{"/etc/a": "dir root root 700"}), [], [{"path": "/etc/a", "mode": "0700"}]) == []


def test_absent_paths_differ_only_while_present():
    assert files.paths_to_write(state(**{"/etc/x": "absent"}), absent=["/etc/x", "/etc/y"]) == []
    assert files.paths_to_write(state(**{"/etc/x": f"{SHA} root root 644"}), absent=["/etc/x"]) == ["/etc/x"]


def test_bad_arguments_name_the_field():
    with pytest.raises(AnsibleFilterError, match="octal"):
        files.paths_to_write({}, [{"dest": "/x", "content": "", "mode": "rw"}])
    with pytest.raises(AnsibleFilterError, match=r"files\[0\]"):
        files.paths_to_write({}, [{"dest": "/x"}])
    with pytest.raises(AnsibleFilterError, match="map paths"):
        files.paths_to_write("nope", [])


# path_states_script: the probe snippet, run by a real /bin/sh on real files, read back by
# paths_to_write and by the files action's known_state check.
def _probe(paths):
    import subprocess

    import yaml
    out = subprocess.run(["/bin/sh", "-c", "set -u\n" + files.path_states_script(paths)], capture_output=True, text=True, check=True)
    return yaml.safe_load(out.stdout)["paths"]


def _me():
    import grp
    import os
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def test_path_states_script_reads_what_paths_to_write_compares(tmp_path):
    import os
    from ansible_collections.kubebin.cluster.plugins.action.files import ActionModule
    owner, group = _me()
    d = tmp_path / "conf.d"
    d.mkdir(mode=0o750)
    os.chmod(d, 0o750)
    f = d / "it's a key"
    f.write_text(CONF)
    os.chmod(f, 0o600)
    (tmp_path / "link").symlink_to(f)
    want_files = [{"dest": str(f), "content": CONF, "mode": "0600", "owner": owner, "group": group}]
    want_dirs = [{"path": str(d), "mode": "0750", "owner": owner, "group": group}]
    gone = str(tmp_path / "gone")
    state = _probe([str(d), str(f), str(tmp_path / "link"), gone, ""])
    assert state == {str(d): f"dir {owner} {group} 750", str(f): f"{SHA} {owner} {group} 600",
                     str(tmp_path / "link"): "other", gone: "absent"}
    assert files.paths_to_write(state, want_files, want_dirs, [gone]) == []
    args = {"files": want_files, "directories": want_dirs, "absent": [gone]}
    assert ActionModule._all_known_and_equal(state, args) is True
    # a path the probe did not read runs the module
    assert ActionModule._all_known_and_equal(state, dict(args, absent=[gone, str(tmp_path / "other")])) is False
    # an edit, a mode, a link where a file should be: each runs the module
    f.write_text(CONF + "edited\n")
    assert ActionModule._all_known_and_equal(_probe([str(d), str(f), gone]), args) is False
    f.write_text(CONF)
    os.chmod(f, 0o644)
    assert ActionModule._all_known_and_equal(_probe([str(d), str(f), gone]), args) is False
    os.chmod(f, 0o600)
    assert ActionModule._all_known_and_equal(_probe([str(d), str(f), gone]), args) is True
    assert ActionModule._all_known_and_equal(_probe([str(d), str(f), gone]), dict(args, absent=[str(tmp_path / "link")])) is False


def test_path_states_script_refuses_bad_input():
    with pytest.raises(AnsibleFilterError, match="list of paths"):
        files.path_states_script("/etc/a")
    with pytest.raises(AnsibleFilterError, match="not an absolute path"):
        files.path_states_script(["etc/a"])
    with pytest.raises(AnsibleFilterError, match="plain name"):
        files.path_states_script(["/etc/a"], key="a b")
