from __future__ import annotations

import pytest
from kubebin_lab import versions


def test_parse_versions_skips_comments_and_blank_lines():
    text = "# pinned\n\nKUBERNETES_VERSION=1.37.1\n  ETCD_VERSION=3.6.16  \nEMPTY=\n"
    assert versions.parse_versions(text) == {"KUBERNETES_VERSION": "1.37.1", "ETCD_VERSION": "3.6.16",
                                             "EMPTY": ""}


@pytest.mark.parametrize("line", ['K="1.0"', "K=1.0 # note", "lower=1", "K = 1", "export K=1", "K=a b"])
def test_parse_versions_refuses_what_shell_or_make_would_read_differently(line):
    with pytest.raises(SystemExit, match=rf"^f.env:2: expected KEY=VALUE, got {line!r}$"):
        versions.parse_versions(f"A=1\n{line}\n", "f.env")


def test_versions_env_parses_and_has_what_build_py_reads(root):
    pinned = versions.load_versions(root / "hack" / "lab" / "versions.env")
    for key in ("KUBERNETES_VERSION", "KUBERNETES_PREVIOUS_VERSION", "ETCD_VERSION", "CONTAINERD_VERSION",
                "RUNC_VERSION", "CRICTL_VERSION", "CNI_PLUGINS_VERSION", "PAUSE_VERSION", "COREDNS_VERSION",
                "FLANNEL_VERSION", "FLANNEL_CNI_PLUGIN_TAG", "FLANNEL_CNI_PLUGIN_SOURCE_VERSION",
                "BUSYBOX_VERSION", "METRICS_SERVER_VERSION"):
        assert pinned.get(key), key
        assert not pinned[key].startswith("v"), f"{key}: no v prefix in versions.env"
    assert versions.version_key(pinned["KUBERNETES_PREVIOUS_VERSION"]) < versions.version_key(pinned["KUBERNETES_VERSION"])


def test_version_key_sorts_numerically():
    assert sorted(["1.9.0", "1.37.1", "v1.10.2", "1.37.0"], key=versions.version_key) == \
        ["1.9.0", "v1.10.2", "1.37.0", "1.37.1"]


def test_staging_version():
    assert versions.staging_version("1.37.1") == "v0.37.1"
    assert versions.staging_version("1.36.14") == "v0.36.14"


def test_stable_files():
    assert versions.stable_files([]) == {}
    assert versions.stable_files(["1.37.1", "1.36.4", "1.37.10", "1.36.12"]) == {
        "kubernetes/release/stable.txt": b"v1.37.10\n",
        "kubernetes/release/stable-1.37.txt": b"v1.37.10\n",
        "kubernetes/release/stable-1.36.txt": b"v1.36.12\n",
    }


@pytest.mark.parametrize("deb, upstream", [("1:1.35.0-4+deb12u1+b1", "1.35.0"), ("1.36.1-1", "1.36.1"),
                                           ("2.0", "2.0")])
def test_deb_upstream_version(deb, upstream):
    assert versions.deb_upstream_version(deb) == upstream
