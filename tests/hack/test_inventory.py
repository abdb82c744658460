from __future__ import annotations

import pytest
import yaml
from kubebin_lab import inventory


def test_instance_names():
    assert inventory.instance_names("kb") == {
        "instance": "kb", "state_dir": "/var/lib/kubebin-lab", "network": "kubebin-lab", "prefix": "kb-",
        "mirror_name": "kb-mirror", "default_subnet": "10.89.37.0/24"}
    ha = inventory.instance_names("ha3")
    assert ha["state_dir"] == "/var/lib/kubebin-lab-ha3" and ha["network"] == "kubebin-lab-ha3"
    assert ha["mirror_name"] == "ha3-mirror"
    assert ha == inventory.instance_names("ha3")  # stable
    third = int(ha["default_subnet"].split(".")[2])
    assert 100 <= third <= 227 and ha["default_subnet"] == f"10.89.{third}.0/24"
    assert inventory.instance_names("ci", "/s", "10.0.0.0/24")["default_subnet"] == "10.0.0.0/24"
    assert inventory.instance_names("ci", "/s", "10.0.0.0/24")["state_dir"] == "/s"


@pytest.mark.parametrize("name", ["", "KB", "1lab", "lab-1", "abcdefghijklm", "é"])
def test_instance_names_refused(name):
    with pytest.raises(ValueError, match="must be 1-12 lowercase letters/digits"):
        inventory.instance_names(name)


def test_topology_defaults_saved_and_changes():
    assert inventory.topology({}, "10.89.37.0/24") == {"masters": 1, "nodes": 2, "etcd": 0, "subnet": "10.89.37.0/24",
                                                       "suite": "bookworm", "node_suite": "bookworm"}
    # a lab.json saved before suites existed: bookworm everywhere
    saved = {"masters": 3, "nodes": 1, "etcd": 3, "subnet": "10.1.0.0/16", "junk": 1}
    assert inventory.topology(saved, "10.89.37.0/24") == {"masters": 3, "nodes": 1, "etcd": 3, "subnet": "10.1.0.0/16",
                                                          "suite": "bookworm", "node_suite": "bookworm"}
    assert inventory.topology(saved, "x", nodes=4, etcd_on_masters=True, etcd=5)["etcd"] == 0
    assert inventory.topology(saved, "x", etcd=1, subnet="10.2.0.0/24")["subnet"] == "10.2.0.0/24"


@pytest.mark.parametrize("kw, message", [
    ({"masters": 0}, "--masters must be at least 1"),
    ({"masters": 10}, "--masters must be between 0 and 9"),
    ({"nodes": 70}, "--nodes must be between 0 and 69"),
    ({"etcd": -1}, "--etcd must be between 0 and 9"),
    ({"subnet": "10.0.0.0/25"}, "--subnet must be an IPv4 network of /24 or larger"),
    ({"subnet": "fd00::/64"}, "--subnet must be an IPv4 network"),
])
def test_topology_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        inventory.topology({}, "10.89.37.0/24", **kw)


def test_lab_hosts_addresses_and_groups():
    topo = {"masters": 2, "nodes": 1, "etcd": 0, "subnet": "10.89.37.0/24"}    # saved before suites
    assert inventory.lab_hosts(topo, "kb-") == [
        {"name": "kb-master1", "role": "master", "groups": ["masters", "etcd"], "ip": "10.89.37.11",
         "suite": "bookworm"},
        {"name": "kb-master2", "role": "master", "groups": ["masters", "etcd"], "ip": "10.89.37.12",
         "suite": "bookworm"},
        {"name": "kb-node1", "role": "node", "groups": ["nodes"], "ip": "10.89.37.31", "suite": "bookworm"},
    ]
    topo = {"masters": 1, "nodes": 0, "etcd": 1, "subnet": "10.1.0.0/16"}
    assert [(h["name"], h["groups"], h["ip"]) for h in inventory.lab_hosts(topo, "ha-")] == [
        ("ha-master1", ["masters"], "10.1.0.11"), ("ha-etcd1", ["etcd"], "10.1.0.21")]
    assert inventory.mirror_ip(topo) == "10.1.0.2" and inventory.gateway_ip(topo) == "10.1.0.1"


def test_topology_suites():
    """--suite sets every host's suite, --node-suite (after it) the nodes' only; both are kept."""
    both = {"suite": "trixie", "node_suite": "trixie"}
    assert {k: v for k, v in inventory.topology({}, "10.89.37.0/24", suite="trixie").items() if "suite" in k} == both
    mixed = inventory.topology({}, "10.89.37.0/24", suite="bookworm", node_suite="trixie")
    assert (mixed["suite"], mixed["node_suite"]) == ("bookworm", "trixie")
    kept = inventory.topology(mixed, "10.89.37.0/24", nodes=3)
    assert (kept["suite"], kept["node_suite"]) == ("bookworm", "trixie")
    assert inventory.topology(mixed, "10.89.37.0/24", node_suite="bookworm")["suite"] == "bookworm"
    # --suite alone makes the lab uniform again
    assert {k: v for k, v in inventory.topology(mixed, "10.89.37.0/24", suite="trixie").items() if "suite" in k} == both
    assert inventory.topology(mixed, "10.89.37.0/24", suite="bookworm")["node_suite"] == "bookworm"
    topo = {"masters": 1, "nodes": 2, "etcd": 1, "subnet": "10.89.37.0/24", "suite": "bookworm",
            "node_suite": "trixie"}
    assert [(h["name"], h["suite"]) for h in inventory.lab_hosts(topo, "mx-")] == [
        ("mx-master1", "bookworm"), ("mx-etcd1", "bookworm"), ("mx-node1", "trixie"), ("mx-node2", "trixie")]


@pytest.mark.parametrize("kw, saved, message", [
    ({"suite": "sid"}, {}, r"--suite 'sid' is not a lab suite; known: bookworm \(Debian 12\), trixie \(Debian 13\)"),
    ({"node_suite": "buster"}, {}, "--node-suite 'buster' is not a lab suite"),
    ({}, {"node_suite": "jessie"}, "--node-suite 'jessie' is not a lab suite"),   # hand-edited lab.json
])
def test_topology_suite_refused(kw, saved, message):
    with pytest.raises(ValueError, match=message):
        inventory.topology(saved, "10.89.37.0/24", **kw)


def test_parse_images_txt():
    text = "# ref file\nregistry.k8s.io/pause:3.10.2 pause-3.10.2.oci.tar\n\nbad line with three\n"
    assert inventory.parse_images_txt(text) == [("registry.k8s.io/pause:3.10.2", "pause-3.10.2.oci.tar")]


@pytest.mark.parametrize("user, become, want_become", [("root", None, False), ("kubebin", None, True),
                                                       ("kubebin", False, False)])
def test_render_inventory(user, become, want_become):
    topo = {"masters": 1, "nodes": 1, "etcd": 0, "subnet": "10.89.37.0/24"}
    hosts = inventory.lab_hosts(topo, "kb-")
    images = [("registry.k8s.io/pause:3.10.2", "pause-3.10.2.oci.tar")]
    text = inventory.render_inventory("kb", topo, hosts, images, "/state/ssh/id_ed25519", user=user, become=become)
    assert text.startswith("# kubebin.cluster local lab 'kb' inventory")
    data = yaml.safe_load(text)["all"]
    assert data["vars"] == {"kubebin_download_mirror": "http://10.89.37.2:8080", "kubebin_lab": True,
                            "docker_offline_images": [{"ref": images[0][0], "path": images[0][1]}]}
    master = data["hosts"]["kb-master1"]
    assert master["ansible_host"] == "10.89.37.11" and master["ansible_user"] == user
    assert master["ansible_ssh_private_key_file"] == "/state/ssh/id_ed25519"
    assert master.get("ansible_become", False) is want_become
    assert data["children"] == {"etcd": {"hosts": {"kb-master1": None}}, "masters": {"hosts": {"kb-master1": None}},
                                "nodes": {"hosts": {"kb-node1": None}}}


def test_render_inventory_empty_group_and_no_images():
    topo = {"masters": 1, "nodes": 0, "etcd": 0, "subnet": "10.89.37.0/24"}
    data = yaml.safe_load(inventory.render_inventory("kb", topo, inventory.lab_hosts(topo, "kb-"), [], "/k"))["all"]
    assert "docker_offline_images" not in data["vars"] and data["children"]["nodes"] == {"hosts": {}}
