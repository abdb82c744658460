"""A lab instance's names, its topology, the addresses of its hosts and its inventory."""
from __future__ import annotations

import hashlib
import ipaddress

from .suites import DEFAULT_SUITE, check_suite

# Several labs can run side by side (e.g. a 1-master lab and a 3-master HA lab): each
# named instance has its own network, subnet, mirror container, hosts, volumes and state
# dir. The default instance "kb" keeps the historic names.
DEFAULT_INSTANCE = "kb"
MIRROR_PORT = 8080
# IP plan (offsets in the lab subnet; .1 is the podman gateway = this machine)
IP_MIRROR = 2
ROLE_BASE = {"master": 10, "etcd": 20, "node": 30}
ROLE_MAX = {"master": 9, "etcd": 9, "node": 69}   # .11-.19, .21-.29, .31-.99; .100+ free
GROUPS = ("etcd", "masters", "nodes")


def instance_names(name: str, state_dir: str | None = None, subnet: str | None = None) -> dict[str, str]:
    """The per-instance names of lab `name` (ValueError when it is not a valid name);
    state_dir and subnet override the defaults ($KUBEBIN_LAB_STATE, $KUBEBIN_LAB_SUBNET)."""
    if not (name.isascii() and name[:1].isalpha() and len(name) <= 12
            and all(ch.isalnum() and ch.lower() == ch for ch in name)):
        raise ValueError(f"lab name {name!r} must be 1-12 lowercase letters/digits "
                         "starting with a letter (it prefixes host names)")
    default = name == DEFAULT_INSTANCE
    prefix = f"{name}-"        # container = hostname: kb-master1, kb-etcd1, kb-node1, kb-mirror
    # a named lab gets a stable subnet of its own, 10.89.100-227.0/24, picked from its name
    slot = 100 + int(hashlib.sha256(name.encode()).hexdigest(), 16) % 128
    return {
        "instance": name,
        "state_dir": state_dir or ("/var/lib/kubebin-lab" if default else f"/var/lib/kubebin-lab-{name}"),
        "network": "kubebin-lab" if default else f"kubebin-lab-{name}",
        "prefix": prefix,
        "mirror_name": prefix + "mirror",
        "default_subnet": subnet or ("10.89.37.0/24" if default else f"10.89.{slot}.0/24"),
    }


def topology(saved: dict, default_subnet: str, masters: int | None = None,
             nodes: int | None = None, etcd: int | None = None, etcd_on_masters: bool = False,
             subnet: str | None = None, suite: str | None = None,
             node_suite: str | None = None) -> dict:
    """The wanted topology: the saved one (or the defaults) with the given changes.

    `suite` is the Debian suite of every host; `node_suite` (applied after it) that of the
    nodes only, for a mixed cluster (e.g. Debian 12 masters, Debian 13 nodes). A topology
    saved before suites existed runs bookworm everywhere.
    ValueError names the option when a count, the subnet or a suite is out of range.
    """
    topo = {"masters": 1, "nodes": 2, "etcd": 0, "subnet": default_subnet,
            "suite": DEFAULT_SUITE, "node_suite": DEFAULT_SUITE}
    topo.update({k: v for k, v in saved.items() if k in topo})
    if masters is not None:
        topo["masters"] = masters
    if nodes is not None:
        topo["nodes"] = nodes
    if etcd_on_masters:
        topo["etcd"] = 0
    elif etcd is not None:
        topo["etcd"] = etcd
    if subnet:
        topo["subnet"] = subnet
    if suite:
        topo["suite"] = topo["node_suite"] = check_suite(suite, "--suite")
    if node_suite:
        topo["node_suite"] = check_suite(node_suite, "--node-suite")
    check_suite(topo["suite"], "--suite")           # a hand-edited lab.json
    check_suite(topo["node_suite"], "--node-suite")
    for role, key in (("master", "masters"), ("node", "nodes"), ("etcd", "etcd")):
        if not 0 <= topo[key] <= ROLE_MAX[role]:
            raise ValueError(f"--{key} must be between 0 and {ROLE_MAX[role]}")
    if topo["masters"] < 1:
        raise ValueError("--masters must be at least 1")
    net = ipaddress.ip_network(topo["subnet"], strict=True)
    if net.version != 4 or net.prefixlen > 24:
        raise ValueError("--subnet must be an IPv4 network of /24 or larger")
    return topo


def lab_hosts(topo: dict, prefix: str) -> list[dict]:
    """name, role, inventory groups, IP and Debian suite of every host of the topology."""
    net = ipaddress.ip_network(topo["subnet"])
    hosts = []
    for role, count in (("master", topo["masters"]), ("etcd", topo["etcd"]),
                        ("node", topo["nodes"])):
        for i in range(1, count + 1):
            groups = {"master": ["masters"], "etcd": ["etcd"], "node": ["nodes"]}[role][:]
            if role == "master" and topo["etcd"] == 0:
                groups.append("etcd")
            hosts.append({"name": f"{prefix}{role}{i}", "role": role, "groups": groups,
                          "ip": str(net.network_address + ROLE_BASE[role] + i),
                          "suite": topo.get("node_suite" if role == "node" else "suite",
                                            DEFAULT_SUITE)})
    return hosts


def mirror_ip(topo: dict) -> str:
    return str(ipaddress.ip_network(topo["subnet"]).network_address + IP_MIRROR)


def gateway_ip(topo: dict) -> str:
    return str(ipaddress.ip_network(topo["subnet"]).network_address + 1)


def parse_images_txt(text: str) -> list[tuple[str, str]]:
    """(reference, file) of the mirror's images/images.txt ("<ref> <file>" lines)."""
    rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(row[0], row[1]) for row in rows if len(row) == 2]


def render_inventory(instance: str, topo: dict, hosts: list[dict], images: list[tuple[str, str]],
                     key: str, user: str = "root", become: bool | None = None) -> str:
    """The lab inventory (hosts.yml); as `user` with `key`; ansible_become (sudo) when
    `become` (default: when user is not root)."""
    become = (user != "root") if become is None else become
    lines = [
        f"# kubebin.cluster local lab '{instance}' inventory, generated by `python3 hack/lab/lab.py up`.",
        "# Do not edit: it is rewritten on every `up` (see docs/lab.md).",
        "all:",
        "  vars:",
        f"    kubebin_download_mirror: http://{mirror_ip(topo)}:{MIRROR_PORT}",
        "    kubebin_lab: true",
    ]
    # The lab has no registry: every image the cluster runs is imported offline by the
    # docker role from the mirror's images/ (listed in images.txt as "<ref> <file>").
    if images:
        lines.append("    docker_offline_images:")
        lines += [f"      - {{ref: '{ref}', path: '{name}'}}" for ref, name in images]
    lines.append("  hosts:")
    for h in hosts:
        lines += [
            f"    {h['name']}:",
            f"      ansible_host: {h['ip']}",
            f"      ansible_user: {user}",
            *(["      ansible_become: true"] if become else []),
            f"      ansible_ssh_private_key_file: {key}",
            "      ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
            "      ansible_python_interpreter: /usr/bin/python3",
        ]
    lines.append("  children:")
    for g in GROUPS:
        members = [h["name"] for h in hosts if g in h["groups"]]
        lines.append(f"    {g}:")
        if members:
            lines.append("      hosts:")
            lines += [f"        {m}:" for m in members]
        else:
            lines.append("      hosts: {}")
    return "\n".join(lines) + "\n"
