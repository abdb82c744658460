# Host state of the node after converge (pytest-testinfra, run by verify.yml over the
# scenario's Molecule inventory): containerd running and enabled on its socket, crictl's view
# of the runtime (ready, runc with systemd cgroups), the offline images in the k8s.io
# namespace and busybox running with ctr, the configuration files (content, modes), the
# binaries and CNI plugins. (Idempotence already proved that a second converge imports
# nothing: the import task reports changed whenever it runs.)
#   pytest --hosts=ansible://nodes --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/docker/tests
import json
import re
import secrets
from urllib.parse import urlsplit

import pytest

CONFIG = "/etc/containerd/config.toml"
CERTS_D = "/etc/containerd/certs.d"
SOCKET = "/run/containerd/containerd.sock"
RUNC = "/usr/local/sbin/runc"
CNI_PLUGINS = ("bridge", "loopback", "host-local")


@pytest.fixture(scope="module")
def crictl_info(host):
    return json.loads(host.check_output("crictl info"))


@pytest.fixture(scope="module")
def mirror(hostvars):
    """The lab mirror's address (molecule.yml: its registry on port 5000 is the docker.io
    mirror and an insecure registry)."""
    return urlsplit(hostvars["kubebin_download_mirror"]).hostname


@pytest.fixture(scope="module")
def images(host):
    return host.check_output("ctr -n k8s.io images ls -q").splitlines()


def _root_file(host, path, mode=0o644):
    f = host.file(path)
    assert f.is_file, path
    assert (f.mode, f.user, f.group) == (mode, "root", "root"), path
    return f.content_string


def test_containerd_active_enabled_on_its_socket(host):
    containerd = host.service("containerd")
    assert containerd.is_running
    assert containerd.is_enabled
    assert host.socket(f"unix://{SOCKET}").is_listening


def test_runtime_ready_runc_with_systemd_cgroups(crictl_info):
    conditions = {c["type"]: c["status"] for c in crictl_info["status"]["conditions"]}
    assert conditions.get("RuntimeReady") is True
    containerd = crictl_info["config"]["containerd"]
    runc = containerd["runtimes"]["runc"]
    assert runc["options"].get("SystemdCgroup") is True
    assert runc["options"].get("BinaryName") == RUNC
    assert containerd.get("defaultRuntimeName", "runc") == "runc"


def test_crictl_talks_to_the_runtime(host):
    assert "containerd" in host.check_output("crictl version")


def test_offline_images_in_k8s_io(images):
    assert [i for i in images if "/pause:" in i]
    assert [i for i in images if "/busybox:" in i]


def test_offline_busybox_runs_with_ctr(host, images):
    busybox = next(i for i in images if "/busybox:" in i)
    out = host.check_output("ctr -n k8s.io run --rm %s kubebin-verify-%s /bin/busybox echo kubebin-ok",
                            busybox, secrets.token_hex(4))
    assert out == "kubebin-ok"


def test_config_toml(host):
    config = _root_file(host, CONFIG)
    assert "SystemdCgroup = true" in config
    assert 'sandbox = "registry.k8s.io/pause:' in config


def test_hosts_toml_of_the_mirrored_registry(host, mirror):
    hosts = _root_file(host, f"{CERTS_D}/docker.io/hosts.toml")
    assert re.search(r'^server = "https://registry-1\.docker\.io"', hosts, re.M)
    assert re.search(rf'^\[host\."http://{re.escape(mirror)}:5000"\]', hosts, re.M)


def test_hosts_toml_of_the_insecure_registry(host, mirror):
    assert "skip_verify = true" in _root_file(host, f"{CERTS_D}/{mirror}:5000/hosts.toml")


def test_unit_and_crictl_config(host):
    _root_file(host, "/etc/systemd/system/containerd.service")
    assert f"runtime-endpoint: unix://{SOCKET}" in _root_file(host, "/etc/crictl.yaml").splitlines()


def test_binaries_run(host):
    host.check_output("%s --version", RUNC)
    host.check_output("/usr/local/bin/containerd --version")


@pytest.mark.parametrize("name", CNI_PLUGINS)
def test_cni_plugin_executable(host, name):
    assert host.run("test -f /opt/cni/bin/%s -a -x /opt/cni/bin/%s", name, name).rc == 0
