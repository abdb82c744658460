# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for kubebin.cluster.artifacts: the host side (plugins/modules/artifacts.py) on
real files and tar archives, and the controller side's pure parts (plugins/action)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import tarfile

import pytest

_HERE = os.path.abspath(__file__)
while os.path.basename(_HERE) not in ("ansible_collections", ""):
    _HERE = os.path.dirname(_HERE)
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

from ansible.errors import AnsibleActionFail  # noqa: E402

from ansible_collections.kubebin.cluster.plugins.action import artifacts as action  # noqa: E402
from ansible_collections.kubebin.cluster.plugins.modules import artifacts  # noqa: E402


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode

    def fail_json(self, msg, **kw):
        raise Failed(msg)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    with open(path, "rb") as f:
        return sha(f.read())


@pytest.fixture
def tree(tmp_path):
    """A staged 'sent' binary and archive, and the host directories."""
    staged = tmp_path / "staged"
    staged.mkdir()
    binary = b"\x7fELF kubelet"
    (staged / "kubelet").write_bytes(binary)
    tar_sha = make_tar(str(staged / "crictl.tar.gz"), {"crictl": (b"crictl v1", 0o755), "./sub/tool": (b"tool", 0o700)})
    host = tmp_path / "host"
    (host / "bin").mkdir(parents=True)
    return {
        "tmp": tmp_path,
        "staged": staged,
        "host": host,
        "binary_sha": sha(binary),
        "tar_sha": tar_sha,
    }


def params(t, links=()):
    host = t["host"]
    return {
        "archive_dir": str(host / "cache"),
        "links": [dict(link) for link in links],
        "_resolved": [
            {"name": "kubelet", "sha256": t["binary_sha"], "dest": str(host / "bin" / "kubelet"), "mode": "0755", "unpack": ""},
            {"name": "crictl.tar.gz", "sha256": t["tar_sha"], "dest": "", "mode": "0755", "unpack": str(host / "opt")},
        ],
        "_sources": {},
    }


def sources(t):
    host, staged = t["host"], t["staged"]
    return {str(host / "bin" / "kubelet"): str(staged / "kubelet"),
            str(host / "cache" / "crictl.tar.gz"): str(staged / "crictl.tar.gz")}


def converge(t, links=()):
    p = params(t, links)
    first = artifacts.run(FakeModule(p))
    assert first["changed"] is False and sorted(first["missing"]) == sorted(sources(t))
    p = params(t, links)
    p["_sources"] = sources(t)
    return artifacts.run(FakeModule(p))


def test_first_run_asks_for_the_files_then_installs_everything(tree):
    host = tree["host"]
    link = {"src": str(host / "opt" / "crictl"), "dest": str(host / "bin" / "crictl")}
    res = converge(tree, [link])
    assert res["changed"] is True
    assert (host / "bin" / "kubelet").read_bytes() == b"\x7fELF kubelet"
    assert stat.S_IMODE(os.stat(host / "bin" / "kubelet").st_mode) == 0o755
    assert (host / "opt" / "crictl").read_bytes() == b"crictl v1"
    assert stat.S_IMODE(os.stat(host / "opt" / "sub" / "tool").st_mode) == 0o700
    assert os.readlink(host / "bin" / "crictl") == str(host / "opt" / "crictl")
    for path in (host / "bin" / "kubelet", host / "opt" / "crictl", host / "opt" / "sub" / "tool", host / "bin" / "crictl"):
        assert str(path) in res["changed_paths"]
    manifest = json.loads((host / "cache" / ("crictl.tar.gz" + artifacts.MANIFEST_SUFFIX)).read_text())
    assert set(manifest["files"]) == {"crictl", "sub/tool"}


def test_second_run_is_a_no_op_in_one_call(tree):
    link = {"src": str(tree["host"] / "opt" / "crictl"), "dest": str(tree["host"] / "bin" / "crictl")}
    converge(tree, [link])
    res = artifacts.run(FakeModule(params(tree, [link])))
    assert res == {"changed": False, "changed_paths": [], "artifacts": res["artifacts"]}


@pytest.mark.parametrize("drift", ["removed", "edited", "moded"])
def test_drift_of_an_unpacked_file_is_repaired_from_the_host_archive(tree, drift):
    converge(tree)
    target = tree["host"] / "opt" / "crictl"
    if drift == "removed":
        target.unlink()
    elif drift == "edited":
        target.write_bytes(b"evil")
    else:
        os.chmod(target, 0o777)
    check = artifacts.run(FakeModule(params(tree), check_mode=True))
    assert check["changed"] is True and check["changed_paths"] == [str(target)]
    assert drift != "removed" or not target.exists()  # check mode wrote nothing
    res = artifacts.run(FakeModule(params(tree)))  # no transfer needed: the archive is on the host
    assert res["changed_paths"] == [str(target)]
    assert target.read_bytes() == b"crictl v1" and stat.S_IMODE(os.stat(target).st_mode) == 0o755


def test_an_edited_binary_is_asked_for_again_and_a_mode_is_fixed_in_place(tree):
    converge(tree)
    binary = tree["host"] / "bin" / "kubelet"
    os.chmod(binary, 0o644)
    res = artifacts.run(FakeModule(params(tree)))
    assert res["changed_paths"] == [str(binary)] and stat.S_IMODE(os.stat(binary).st_mode) == 0o755
    binary.write_bytes(b"other")
    res = artifacts.run(FakeModule(params(tree)))
    assert res["missing"] == [str(binary)]


def test_files_already_right_without_a_manifest_are_not_rewritten(tree):
    """A host installed before (unarchive): the first run records a manifest, changes nothing."""
    converge(tree)
    manifest = tree["host"] / "cache" / ("crictl.tar.gz" + artifacts.MANIFEST_SUFFIX)
    manifest.unlink()
    res = artifacts.run(FakeModule(params(tree)))
    assert res["changed"] is False and manifest.exists()


def test_a_transfer_that_does_not_match_is_removed_and_fails(tree):
    (tree["staged"] / "kubelet").write_bytes(b"corrupted on the way")
    p = params(tree)
    p["_sources"] = sources(tree)
    with pytest.raises(Failed, match="sha256"):
        artifacts.run(FakeModule(p))
    assert not (tree["host"] / "bin" / "kubelet").exists()


def test_unsafe_archive_members_are_refused(tree):
    bad = tree["staged"] / "bad.tar.gz"
    make_tar(str(bad), {"../escape": (b"x", 0o644)})
    with pytest.raises(ValueError, match="outside"):
        artifacts.archive_members(str(bad))


def test_check_mode_on_an_empty_host_writes_nothing(tree):
    res = artifacts.run(FakeModule(params(tree), check_mode=True))
    assert res["changed"] is True
    assert not (tree["host"] / "bin" / "kubelet").exists() and not (tree["host"] / "opt").exists()


# --- controller side -----------------------------------------------------------------------
H = "a" * 64


@pytest.mark.parametrize("text,name,want", [
    (H + "\n", "kube-apiserver", H),                                   # dl.k8s.io .sha256: a bare hash
    (f"{'b' * 64}  etcd-v3.6.16-linux-arm64.tar.gz\n{H}  etcd-v3.6.16-linux-amd64.tar.gz\n",
     "etcd-v3.6.16-linux-amd64.tar.gz", H),                             # SHA256SUMS
    (f"{H} *bin/runc.amd64\n", "runc.amd64", H),                         # binary mode, a path
    (f"{H}  other\n", "runc.amd64", ""),                                 # no entry
    ("not-a-hash\n", "x", ""),
])
def test_parse_checksum_file(text, name, want):
    assert action.parse_checksum_file(text, name) == want


def test_verified_sha256_is_remembered_until_the_file_changes(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"one")
    assert action.verified_sha256(str(f)) == sha(b"one")
    assert json.loads((tmp_path / "blob.kubebin-sha256").read_text())["sha256"] == sha(b"one")
    f.write_bytes(b"two!")
    assert action.verified_sha256(str(f)) == sha(b"two!")


def _resolve(item, settings):
    return action.ActionModule._resolve(None, item, settings)


def test_offline_artifact_is_verified(tmp_path):
    rel = "release/v1.37.1/bin/linux/amd64/kubelet"
    (tmp_path / "kubernetes" / os.path.dirname(rel)).mkdir(parents=True)
    (tmp_path / "kubernetes" / rel).write_bytes(b"kubelet")
    (tmp_path / "kubernetes" / (rel + ".sha256")).write_text(sha(b"kubelet"))
    item = {"source": "kubernetes", "path": rel, "checksum_path": rel + ".sha256", "dest": "/usr/local/bin/kubelet"}
    got = _resolve(item, {"offline_dir": str(tmp_path)})
    assert got["sha256"] == sha(b"kubelet") and got["local"].endswith(rel)
    (tmp_path / "kubernetes" / rel).write_bytes(b"tampered")
    with pytest.raises(AnsibleActionFail, match="Refusing an unverified file"):
        _resolve(item, {"offline_dir": str(tmp_path)})


@pytest.mark.parametrize("item,msg", [
    ({"source": "ftp", "path": "a", "sha256": H, "dest": "/x"}, "source must be one of"),
    ({"source": "github", "path": "../a", "sha256": H, "dest": "/x"}, "relative path"),
    ({"source": "github", "path": "a", "sha256": H}, "exactly one of dest"),
    ({"source": "github", "path": "a", "sha256": H, "dest": "x"}, "absolute path"),
    ({"source": "github", "path": "a.zip", "sha256": H, "unpack": "/x"}, "only .tar.gz"),
    ({"source": "github", "path": "a", "dest": "/x"}, "a checksum is required"),
    ({"source": "github", "path": "a", "sha256": "abc", "dest": "/x"}, "64 hex digits"),
    ({"source": "github", "path": "a", "sha256": H, "dest": "/x", "mode": "rwx"}, "mode must be octal"),
])
def test_bad_input_is_named(item, msg):
    with pytest.raises(AnsibleActionFail, match=msg):
        _resolve(item, {"offline_dir": "/nonexistent"})
