# Host state of each prepared host after converge (pytest-testinfra, run by verify.yml over
# the scenario's Molecule inventory): the sysctls live and in their file, the kernel modules
# present and listed for boot, swap off for good, the packages, chrony on the lab's time
# source only, /etc/hosts, the host name and the time zone.
#   pytest --hosts=ansible://all --ansible-inventory=$MOLECULE_INVENTORY_FILE molecule/os_prep/tests
import re

import pytest

SYSCTL_FILE = "/etc/sysctl.d/90-kubebin.conf"
MODULES_FILE = "/etc/modules-load.d/kubebin.conf"
# The role's defaults (os_prep_sysctl); molecule.yml adds os_prep_sysctl_extra.
SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
    "net.ipv4.ip_forward": 1,
}
MODULES = ("overlay", "br_netfilter", "nf_conntrack")
PACKAGES = ("conntrack", "ipset", "ipvsadm", "socat", "chrony")
CHRONY_SOURCES = "/etc/chrony/sources.d/kubebin.sources"


@pytest.fixture(scope="module")
def sysctls(hostvars):
    return SYSCTLS | {k: int(v) for k, v in hostvars.get("os_prep_sysctl_extra", {}).items()}


def _root_file(host, path, mode=0o644):
    f = host.file(path)
    assert f.is_file, path
    assert (f.mode, f.user, f.group) == (mode, "root", "root"), path
    return f


def test_sysctl_live_values(host, sysctls):
    assert "net.ipv4.conf.all.rp_filter" in sysctls  # molecule.yml's extra setting is checked too
    assert {k: host.sysctl(k) for k in sysctls} == sysctls


def test_sysctls_persisted(host, sysctls):
    lines = _root_file(host, SYSCTL_FILE).content_string.splitlines()
    for key, value in sysctls.items():
        assert f"{key} = {value}" in lines, key


def test_kernel_modules_present(host):
    # Loaded, built in, or their interface exists (the hosts share the VM's kernel).
    assert re.search(r"\boverlay\b", host.file("/proc/filesystems").content_string)
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists
    assert host.file("/proc/sys/net/netfilter/nf_conntrack_max").exists


def test_kernel_modules_persisted(host):
    lines = _root_file(host, MODULES_FILE).content_string.splitlines()
    assert {m: lines.count(m) for m in MODULES} == dict.fromkeys(MODULES, 1)


def test_swap_off(host):
    # /proc/swaps: its header line only.
    assert len(host.file("/proc/swaps").content_string.splitlines()) == 1


def test_swap_disabled_for_good(host):
    fstab = host.file("/etc/fstab").content_string
    assert not re.search(r"^[^#]\S*\s+\S+\s+swap\s", fstab, re.M)
    assert re.search(r"^# /swapfile none swap", fstab, re.M)  # the line prepare.yml added
    assert host.service("swap.target").is_masked


@pytest.mark.parametrize("name", PACKAGES)
def test_package_installed(host, name):
    assert host.package(name).is_installed


def test_chrony_on_the_lab_time_source_only(host, hostvars):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled
    server = hostvars["os_prep_ntp_servers"][0]
    assert re.search(rf"^server {re.escape(server)} iburst", _root_file(host, CHRONY_SOURCES).content_string, re.M)
    assert not re.search(r"^pool ", host.file("/etc/chrony/chrony.conf").content_string, re.M)


def test_every_cluster_host_in_etc_hosts(host, hostvars, inventory):
    lines = host.file("/etc/hosts").content_string.splitlines()
    for name in hostvars["groups"]["all"]:
        assert f"{inventory.get_variables(name)['kubebin_node_ip']} {name}" in lines, name


def test_host_name_and_time_zone(host, hostvars):
    assert host.check_output("hostname") == hostvars["inventory_hostname"]
    assert host.check_output("readlink /etc/localtime") == "/usr/share/zoneinfo/Asia/Shanghai"
