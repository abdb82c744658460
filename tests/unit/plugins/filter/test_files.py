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
