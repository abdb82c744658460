# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the network filters (plugins/filter/network.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubebin.cluster.plugins.filter import network


@pytest.mark.parametrize(
    ("cidr", "index", "expected"),
    [
        ("10.96.0.0/12", 1, "10.96.0.1"),
        ("10.100.5.7/12", 1, "10.96.0.1"),  # host bits ignored, as kube-apiserver does
        ("10.96.0.0/12", 10, "10.96.0.10"),
        ("10.96.0.0/12", -1, "10.111.255.255"),
        ("192.168.0.0/24", 0, "192.168.0.0"),
        ("fd00:10:96::/112", 1, "fd00:10:96::1"),
    ],
)
def test_cidr_address(cidr, index, expected):
    assert network.cidr_address(cidr, index) == expected


@pytest.mark.parametrize(("cidr", "index"), [("10.96.0.0", "x"), ("not-a-net/12", 1), ("10.0.0.0/30", 4), ("10.0.0.0/30", -5)])
def test_cidr_address_refuses(cidr, index):
    with pytest.raises(AnsibleFilterError):
        network.cidr_address(cidr, index)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.1", "10.0.0.1"), ("fd00::1", "[fd00::1]"), ("master1.example.com", "master1.example.com"), (" 10.0.0.2 ", "10.0.0.2")],
)
def test_url_host(value, expected):
    assert network.url_host(value) == expected


@pytest.mark.parametrize(
    ("endpoint", "default_host", "expected"),
    [
        ("", "10.0.0.5", "https://10.0.0.5:6443"),
        (None, "fd00::5", "https://[fd00::5]:6443"),
        ("lb.example.com", "", "https://lb.example.com:6443"),
        ("lb.example.com:8443", "", "https://lb.example.com:8443"),
        ("10.0.0.9:443", "", "https://10.0.0.9:443"),
        ("[fd00::9]:443", "", "https://[fd00::9]:443"),
        ("fd00::9", "", "https://[fd00::9]:6443"),
        ("https://lb.example.com:9443/", "10.0.0.5", "https://lb.example.com:9443"),
        ("", "", ""),
    ],
)
def test_apiserver_url(endpoint, default_host, expected):
    assert network.apiserver_url(endpoint, 6443, default_host) == expected


def test_apiserver_url_refuses_other_schemes():
    with pytest.raises(AnsibleFilterError, match="not an https URL"):
        network.apiserver_url("http://lb.example.com", 6443)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://lb.example.com:6443", "lb.example.com"),
        ("https://lb.example.com/", "lb.example.com"),
        ("lb.example.com:8443", "lb.example.com"),
        ("10.0.0.9", "10.0.0.9"),
        ("https://[fd00::9]:6443", "fd00::9"),
        ("", ""),
    ],
)
def test_url_hostname(value, expected):
    assert network.url_hostname(value) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Node1", "node1.example.com", "node1"], ["node1", "node1.example.com"]),
        (["localhost", "localhost.localdomain", "10.0.0.1", "", None, "ip6-loopback"], []),
        (["bad_name", "-x", "a" * 64, "ok-name"], ["ok-name"]),
        (None, []),
    ],
)
def test_dns_names(values, expected):
    assert network.dns_names(values) == expected


_FACTS = {
    "interfaces": ["lo", "eth0", "flannel.1", "br-lan"],
    "lo": {"device": "lo", "ipv4": {"address": "127.0.0.1", "netmask": "255.0.0.0"}},
    "eth0": {"device": "eth0", "ipv4": {"address": "10.0.0.11", "netmask": "255.255.255.0", "prefix": "24"},
             "ipv4_secondaries": [{"address": "10.0.0.250", "netmask": "255.255.255.255"}]},
    "flannel_1": {"device": "flannel.1", "ipv4": {"address": "10.244.0.0", "netmask": "255.255.255.255"}},
    "br_lan": {"device": "br-lan", "ipv4": {"address": "192.168.1.5", "netmask": "255.255.0.0"}},
}


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.11", {"interface": "eth0", "address": "10.0.0.11", "network": "10.0.0.0/24"}),
        (" 10.0.0.250 ", {"interface": "eth0", "address": "10.0.0.250", "network": "10.0.0.250/32"}),
        ("192.168.1.5", {"interface": "br-lan", "address": "192.168.1.5", "network": "192.168.0.0/16"}),
        ("10.244.0.0", {"interface": "flannel.1", "address": "10.244.0.0", "network": "10.244.0.0/32"}),
        ("10.0.0.12", {}),
        ("fd00::1", {}),
        ("not-an-ip", {}),
        ("", {}),
    ],
)
def test_ipv4_interface(address, expected):
    assert network.ipv4_interface(_FACTS, address) == expected


def test_ipv4_interface_without_facts():
    assert network.ipv4_interface({}, "10.0.0.11") == {}
    assert network.ipv4_interface(None, "10.0.0.11") == {}
    assert network.ipv4_interface({"interfaces": ["eth0"], "eth0": "garbage"}, "10.0.0.11") == {}


@pytest.mark.parametrize(
    ("address", "interface", "expected"),
    [
        ("10.0.0.11", "eth0", {"interface": "eth0", "address": "10.0.0.11", "network": "10.0.0.0/24"}),
        ("10.0.0.11", "br-lan", {"interface": "br-lan", "address": "192.168.1.5", "network": "192.168.0.0/16"}),
        ("", "br-lan", {"interface": "br-lan", "address": "192.168.1.5", "network": "192.168.0.0/16"}),
        ("10.0.0.11", "eth9", {}),
    ],
)
def test_ipv4_interface_named(address, interface, expected):
    assert network.ipv4_interface(_FACTS, address, interface) == expected


def test_node_identities_from_what_common_published():
    hostvars = {"n1": {"kubebin_node_ip": "10.0.0.21", "kubebin_node_dns_names": ["n1", "n1.example.com"],
                       "ansible_host": "n1.lab", "ansible_facts": {"hostname": "other"}},
                "m1": {"node_name": "master-one", "kubebin_node_ip": "10.0.0.11", "kubebin_node_dns_names": ["m1"]}}
    assert network.node_identities(["n1", "m1"], hostvars) == [
        {"name": "n1", "addresses": ["10.0.0.21"], "dns_names": ["n1.example.com"]},
        {"name": "master-one", "addresses": ["10.0.0.11"], "dns_names": ["m1"]},
    ]


def test_node_identities_of_hosts_that_did_not_run_common():
    hostvars = {"n2": {"ansible_host": "10.0.0.22", "ansible_facts": {"hostname": "N2", "fqdn": "n2.example.com"}},
                "n3": {"ansible_host": "n3.lab", "ansible_facts": {"default_ipv4": {"address": "10.0.0.23"}}},
                "n4": {"ansible_host": "n4.lab"}}
    assert network.node_identities(["n2", "n3", "n4"], hostvars) == [
        {"name": "n2", "addresses": ["10.0.0.22"], "dns_names": ["n2.example.com"]},
        {"name": "n3", "addresses": ["10.0.0.23"], "dns_names": []},
        {"name": "n4", "addresses": [], "dns_names": []},
    ]


def test_node_address_follows_common_rule():
    hostvars = {"a": {"kubebin_node_ip": "10.0.0.11", "ansible_host": "10.9.9.9"},
                "b": {"ansible_host": "10.0.0.12", "ansible_facts": {"default_ipv4": {"address": "10.0.0.99"}}},
                "c": {"ansible_host": "c.lab", "ansible_facts": {"default_ipv4": {"address": "10.0.0.13"}}},
                "d": {"ansible_host": "d.lab"},
                "e": {}}
    assert [network.node_address(h, hostvars) for h in "abcde"] == \
        ["10.0.0.11", "10.0.0.12", "10.0.0.13", "d.lab", "e"]


def test_node_address_and_node_identities_agree():
    hostvars = {"n": {"ansible_host": "n.lab", "ansible_facts": {"default_ipv4": {"address": "10.0.0.23"}}}}
    assert network.node_identities(["n"], hostvars)[0]["addresses"] == [network.node_address("n", hostvars)]
