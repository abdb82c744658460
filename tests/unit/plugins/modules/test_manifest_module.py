# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for kubebin.cluster.manifest (plugins/modules/manifest.py) with a fake kubectl.

The real kubectl against a real kube-apiserver is tests/integration/targets/manifest.
"""

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

from ansible_collections.kubebin.cluster.plugins.modules import manifest  # noqa: E402

KUBECTL = ["/usr/local/bin/kubectl", "--kubeconfig", "/etc/kubernetes/admin.kubeconfig"]


class FakeKubectl:
    """Answers diff with ``diff_rc`` and apply with ``apply_rc``; records every call and the
    manifest each one was given (read at call time: a check-mode scratch file is gone later)."""

    def __init__(self, diff_rc=0, apply_rc=0, missing=False):
        self.diff_rc, self.apply_rc, self.missing = diff_rc, apply_rc, missing
        self.calls = []

    def __call__(self, argv):
        if self.missing:
            raise FileNotFoundError(2, "No such file or directory")
        verb = argv[len(KUBECTL)]
        with open(argv[-1], "rb") as handle:
            self.calls.append((verb, argv, handle.read()))
        if verb == "diff":
            return self.diff_rc, "-  replicas: 1\n+  replicas: 2\n" if self.diff_rc == 1 else "", \
                "Error from server (NotFound): namespaces \"x\" not found" if self.diff_rc > 1 else ""
        return self.apply_rc, "deployment.apps/x serverside-applied\n", "conflict" if self.apply_rc else ""

    def verbs(self):
        return [call[0] for call in self.calls]


def params(tmp_path, content="kind: ConfigMap\n", **kw):
    p = {"kubectl": KUBECTL, "path": str(tmp_path / "addons" / "x.yaml"), "content": content,
         "mode": "0644", "directory_mode": "0700", "field_manager": "kubebin-test", "force_conflicts": True}
    p.update(kw)
    return p


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_run_writes_the_file_and_applies(tmp_path):
    kubectl = FakeKubectl(diff_rc=1)
    result = manifest.run(params(tmp_path), False, kubectl)
    assert result == {"changed": True, "file_changed": True, "applied": True,
                      "kubectl_diff": "-  replicas: 1\n+  replicas: 2\n"}
    assert kubectl.verbs() == ["diff", "apply"]
    assert kubectl.calls[1][1] == KUBECTL + ["apply", "--server-side", "--field-manager", "kubebin-test",
                                             "--force-conflicts", "-f", str(tmp_path / "addons" / "x.yaml")]
    assert (tmp_path / "addons" / "x.yaml").read_text() == "kind: ConfigMap\n"
    assert mode_of(tmp_path / "addons") == 0o700 and mode_of(tmp_path / "addons" / "x.yaml") == 0o644


def test_converged_cluster_and_file_is_no_change_and_no_apply(tmp_path):
    manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1))
    kubectl = FakeKubectl(diff_rc=0)
    result = manifest.run(params(tmp_path), False, kubectl)
    assert result["changed"] is False and result["applied"] is False and result["file_changed"] is False
    assert kubectl.verbs() == ["diff"]


def test_cluster_drift_with_the_same_file_applies(tmp_path):
    manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1))
    kubectl = FakeKubectl(diff_rc=1)
    result = manifest.run(params(tmp_path), False, kubectl)
    assert result["changed"] and result["applied"] and not result["file_changed"]
    assert kubectl.verbs() == ["diff", "apply"]


def test_a_diff_error_counts_as_a_difference_and_reports_it(tmp_path):
    kubectl = FakeKubectl(diff_rc=2)
    result = manifest.run(params(tmp_path), False, kubectl)
    assert result["applied"] and "namespaces" in result["kubectl_diff"]
    assert kubectl.verbs() == ["diff", "apply"]


def test_a_failed_apply_raises_naming_the_file(tmp_path):
    with pytest.raises(RuntimeError, match=r"x.yaml failed \(exit 1\): conflict"):
        manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1, apply_rc=1))


def test_check_mode_diffs_the_new_content_from_a_scratch_copy_and_writes_nothing(tmp_path):
    manifest.run(params(tmp_path, content="old\n"), False, FakeKubectl(diff_rc=1))
    kubectl = FakeKubectl(diff_rc=1)
    result = manifest.run(params(tmp_path, content="new\n"), True, kubectl, scratch_dir=str(tmp_path))
    assert result["changed"] and result["file_changed"] and result["applied"]
    assert kubectl.verbs() == ["diff"]
    verb, argv, seen = kubectl.calls[0]
    assert seen == b"new\n" and argv[-1] != str(tmp_path / "addons" / "x.yaml")
    assert not os.path.exists(argv[-1])  # the scratch copy is removed
    assert (tmp_path / "addons" / "x.yaml").read_text() == "old\n"


def test_check_mode_on_a_converged_cluster_predicts_no_change(tmp_path):
    manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1))
    result = manifest.run(params(tmp_path), True, FakeKubectl(diff_rc=0))
    assert result["changed"] is False


def test_check_mode_without_kubectl_predicts_the_apply(tmp_path):
    result = manifest.run(params(tmp_path), True, FakeKubectl(missing=True), scratch_dir=str(tmp_path))
    assert result["changed"] and result["applied"] and "cannot run /usr/local/bin/kubectl" in result["kubectl_diff"]
    assert not (tmp_path / "addons").exists()


def test_a_real_run_without_kubectl_fails(tmp_path):
    with pytest.raises(RuntimeError, match="kubectl: cannot run /usr/local/bin/kubectl"):
        manifest.run(params(tmp_path), False, FakeKubectl(missing=True))


def test_modes_are_put_back(tmp_path):
    manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1))
    os.chmod(tmp_path / "addons" / "x.yaml", 0o666)
    os.chmod(tmp_path / "addons", 0o755)
    result = manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=0))
    assert result["changed"] and result["file_changed"] and not result["applied"]
    assert mode_of(tmp_path / "addons") == 0o700 and mode_of(tmp_path / "addons" / "x.yaml") == 0o644


def test_without_content_the_file_on_the_host_is_applied(tmp_path):
    manifest.run(params(tmp_path), False, FakeKubectl(diff_rc=1))
    kubectl = FakeKubectl(diff_rc=1)
    result = manifest.run(params(tmp_path, content=None), False, kubectl)
    assert result["applied"] and not result["file_changed"] and kubectl.calls[0][2] == b"kind: ConfigMap\n"


@pytest.mark.parametrize("change, message", [
    ({"content": None}, "does not exist and no content was given"),
    ({"mode": "rw-r--r--"}, "mode: 'rw-r--r--' is not an octal mode"),
    ({"directory_mode": "09"}, "directory_mode: '09' is not an octal mode"),
])
def test_bad_input_is_refused_before_anything_runs(tmp_path, change, message):
    kubectl = FakeKubectl(diff_rc=1)
    with pytest.raises(ValueError, match=message):
        manifest.run(params(tmp_path, **change), False, kubectl)
    assert kubectl.calls == [] and not (tmp_path / "addons").exists()


def test_no_force_conflicts(tmp_path):
    kubectl = FakeKubectl(diff_rc=1)
    manifest.run(params(tmp_path, force_conflicts=False), False, kubectl)
    assert "--force-conflicts" not in kubectl.calls[0][1]


def test_diff_mode_returns_the_file_before_and_after_only_when_the_content_changes(tmp_path):
    manifest.run(params(tmp_path, content="old\n"), False, FakeKubectl(diff_rc=1))
    result = manifest.run(params(tmp_path, content="new\n"), True, FakeKubectl(diff_rc=1),
                          scratch_dir=str(tmp_path), diff=True)
    path = str(tmp_path / "addons" / "x.yaml")
    assert result["diff"] == {"before_header": path, "before": "old\n", "after_header": path, "after": "new\n"}
    # Cluster drift alone (same file): applied, but there is no file difference to show.
    result = manifest.run(params(tmp_path, content="old\n"), False, FakeKubectl(diff_rc=1), diff=True)
    assert result["applied"] and "diff" not in result
