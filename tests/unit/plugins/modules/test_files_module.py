# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for kubebin.cluster.files (plugins/modules/files.py, plugins/action/files.py)."""

from __future__ import annotations

import os
import stat
import sys

import pytest

_HERE = os.path.abspath(__file__)
while os.path.basename(_HERE) not in ("ansible_collections", ""):
    _HERE = os.path.dirname(_HERE)
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

from ansible.errors import AnsibleActionFail  # noqa: E402

from ansible_collections.kubebin.cluster.plugins.action import files as files_action  # noqa: E402
from ansible_collections.kubebin.cluster.plugins.modules import files as files_module  # noqa: E402

ME = str(os.getuid())
MYGROUP = str(os.getgid())


def fparams(tmp_path, content="a: 1\n", mode="0600", secret=False):
    return {
        "directories": [{"path": str(tmp_path / "etc" / "kube"), "mode": "0700", "owner": ME, "group": MYGROUP}],
        "files": [{"dest": str(tmp_path / "etc" / "kube" / "conf.yaml"), "content": content, "mode": mode,
                   "owner": ME, "group": MYGROUP, "secret": secret}],
        "absent": [str(tmp_path / "old.conf")],
    }


def test_files_write_then_no_op_then_fix_mode_only(tmp_path):
    changed, diffs = files_module.run(fparams(tmp_path), False, True)
    conf = tmp_path / "etc" / "kube" / "conf.yaml"
    assert changed == [str(tmp_path / "etc" / "kube"), str(conf)]
    assert conf.read_text() == "a: 1\n" and stat.S_IMODE(os.stat(conf).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "etc" / "kube").st_mode) == 0o700
    assert diffs[0]["after"] == "a: 1\n"
    assert files_module.run(fparams(tmp_path), False, True) == ([], [])
    os.chmod(conf, 0o644)
    assert files_module.run(fparams(tmp_path), True, True) == ([str(conf)], [])   # check: predicted
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o644                            # and not done
    assert files_module.run(fparams(tmp_path), False, True) == ([str(conf)], [])
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600


def test_files_secret_content_is_never_in_a_diff_and_absent_removes(tmp_path):
    files_module.run(fparams(tmp_path), False, False)
    (tmp_path / "old.conf").write_text("x")
    changed, diffs = files_module.run(fparams(tmp_path, content="key: s3cret\n", secret=True), False, True)
    assert str(tmp_path / "old.conf") in changed and not (tmp_path / "old.conf").exists()
    assert diffs == []


def test_files_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="mode must be octal"):
        files_module.run(fparams(tmp_path, mode="rw"), False, False)
    p = fparams(tmp_path)
    p["files"][0]["owner"] = "no-such-user-kubebin"
    with pytest.raises(ValueError, match="no user 'no-such-user-kubebin'"):
        files_module.run(p, False, False)
    assert files_module.run(p, True, False)[0]  # check mode: the account may come from an earlier task


def test_files_action_reads_src_and_refuses_both_or_neither(tmp_path):
    src = tmp_path / "ca.pem"
    src.write_text("PEM")
    assert files_action.with_contents([{"dest": "/x", "src": str(src)}]) == [{"dest": "/x", "content": "PEM"}]
    with pytest.raises(AnsibleActionFail, match="exactly one of content and src"):
        files_action.with_contents([{"dest": "/x", "src": str(src), "content": "y"}])
    with pytest.raises(AnsibleActionFail, match="cannot read"):
        files_action.with_contents([{"dest": "/x", "src": str(tmp_path / "missing")}])


def _subprocess_runner(argv):
    import subprocess
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout, p.stderr


def test_files_validate_checks_the_new_content_before_it_replaces_the_file(tmp_path):
    files_module.run(fparams(tmp_path, content="good: 1\n"), False, False)
    conf = tmp_path / "etc" / "kube" / "conf.yaml"
    seen = []

    def runner(argv):
        seen.append(argv)
        return _subprocess_runner(argv)

    bad = fparams(tmp_path, content="bad: 1\n")
    bad["files"][0]["validate"] = "grep -q ^good %s"
    with pytest.raises(ValueError, match=r"conf.yaml: the new content failed validation \(grep -q \^good %s, rc=1\)"):
        files_module.run(bad, False, False, runner)
    assert conf.read_text() == "good: 1\n"                                  # untouched
    assert os.listdir(conf.parent) == ["conf.yaml"]                         # no temporary file left
    assert seen[0][:2] == ["grep", "-q"] and seen[0][3] != str(conf)        # ran on the temporary file
    assert files_module.run(bad, True, False, runner) == ([str(conf)], [])  # check mode: predicted, not run
    assert len(seen) == 1
    good = fparams(tmp_path, content="good: 2\n")
    good["files"][0]["validate"] = "grep -q ^good %s"
    assert files_module.run(good, False, False, runner) == ([str(conf)], [])
    assert conf.read_text() == "good: 2\n"
    assert files_module.run(good, False, False, runner) == ([], []) and len(seen) == 2  # unchanged: not run
    good["files"][0]["validate"] = "true"
    good["files"][0]["content"] = "good: 3\n"
    with pytest.raises(ValueError, match="validate must contain %s"):
        files_module.run(good, False, False, runner)
