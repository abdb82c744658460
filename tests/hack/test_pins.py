"""One version source: what hack/lab/versions.env pins, the roles' defaults pin too.

The lab builds and serves exactly the versions of versions.env; a deploy on the lab (and
a user's first deploy) uses the roles' defaults. They must agree, or `make deploy` asks
the mirror for a release the lab never built. Move both together.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from kubebin_lab.versions import load_versions

# versions.env key -> (role, variable whose default pins the same release)
PINS = {
    "KUBERNETES_VERSION": ("common", "kubebin_kubernetes_version"),
    "ETCD_VERSION": ("common", "kubebin_etcd_version"),
    "CONTAINERD_VERSION": ("common", "kubebin_containerd_version"),
    "RUNC_VERSION": ("common", "kubebin_runc_version"),
    "CNI_PLUGINS_VERSION": ("common", "kubebin_cni_plugins_version"),
    "CRICTL_VERSION": ("common", "kubebin_crictl_version"),
    "PAUSE_VERSION": ("common", "kubebin_pause_version"),
    "COREDNS_VERSION": ("addons", "addons_coredns_version"),
    "FLANNEL_VERSION": ("cni", "cni_flannel_version"),
    "METRICS_SERVER_VERSION": ("addons", "addons_metrics_server_version"),
}
# Release pins of the roles that the lab does not build (not in versions.env).
NOT_BUILT_BY_THE_LAB = {"cni_calico_version"}
RELEASE = re.compile(r"^v?\d+\.\d+(\.\d+)?$")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def role_defaults(root: Path, role: str) -> dict:
    """defaults/main.yml, or every file of defaults/main/ (a split defaults dir)."""
    base = root / "roles" / role / "defaults"
    files = [base / "main.yml"] if (base / "main.yml").exists() else sorted((base / "main").glob("*.yml"))
    out: dict = {}
    for f in files:
        out.update(_yaml(f))
    return out


def spec_default(root: Path, role: str, var: str):
    spec = _yaml(root / "roles" / role / "meta" / "argument_specs.yml")
    return spec["argument_specs"]["main"]["options"][var].get("default")


@pytest.fixture(name="pinned")
def fixture_pinned(root):
    return load_versions(root / "hack" / "lab" / "versions.env")


@pytest.mark.parametrize("key", sorted(PINS))
def test_role_default_matches_versions_env(root, pinned, key):
    role, var = PINS[key]
    assert str(role_defaults(root, role)[var]) == pinned[key], (
        f"roles/{role}/defaults: {var}={role_defaults(root, role)[var]!r} but hack/lab/versions.env "
        f"{key}={pinned[key]}: change both (the lab builds what versions.env pins)")
    assert str(spec_default(root, role, var)) == pinned[key], (
        f"roles/{role}/meta/argument_specs.yml: default of {var} differs from versions.env {key}={pinned[key]}")


def test_flannel_cni_plugin_image_tag(root, pinned):
    image = role_defaults(root, "cni")["cni_flannel_cni_plugin_image"]
    assert image.endswith(":v" + pinned["FLANNEL_CNI_PLUGIN_TAG"]), (
        f"roles/cni/defaults: cni_flannel_cni_plugin_image {image!r}, versions.env FLANNEL_CNI_PLUGIN_TAG="
        f"{pinned['FLANNEL_CNI_PLUGIN_TAG']}")


def test_every_release_pin_of_the_roles_is_known(root):
    """A new `<role>_*_version` default must be added to PINS (and versions.env) or to
    NOT_BUILT_BY_THE_LAB, so that a second copy of a version cannot appear unnoticed."""
    known = {var for _role, var in PINS.values()} | NOT_BUILT_BY_THE_LAB
    found = {var for role in sorted(p.name for p in (root / "roles").iterdir() if (p / "defaults").is_dir())
             for var, value in role_defaults(root, role).items()
             if var.endswith("_version") and isinstance(value, str) and RELEASE.match(value)}
    assert found - known == set()


def test_e2e_scripts_use_the_pinned_versions(root, pinned):
    e2e = root / "tests" / "e2e"
    upgrade = (e2e / "upgrade_e2e.sh").read_text()
    assert re.search(r"UPGRADE_FROM:-([0-9.]+)", upgrade).group(1) == pinned["KUBERNETES_PREVIOUS_VERSION"]
    for path in sorted(e2e.glob("*")):
        if path.is_file():
            for tag in re.findall(r"docker\.io/library/busybox:([0-9][0-9.]*[0-9])", path.read_text()):
                assert tag == pinned["BUSYBOX_VERSION"], f"{path.name}: busybox:{tag}"


def test_metrics_server_image_tag(root, pinned):
    """The addons role's default image is the one build.py tags (its upstream name)."""
    defaults = role_defaults(root, "addons")
    image = defaults["addons_metrics_server_image"].replace(
        "{{ addons_metrics_server_version }}", str(defaults["addons_metrics_server_version"]))
    assert image == f"registry.k8s.io/metrics-server/metrics-server:v{pinned['METRICS_SERVER_VERSION']}"
    assert f'"registry.k8s.io/metrics-server/metrics-server:v{{mv}}"' in (root / "hack" / "lab" / "build.py").read_text()
