# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address tests of kubebin.cluster (stdlib ipaddress): `x is kubebin.cluster.ipv4_address`.

Documentation: the YAML file of the same name as each test.
"""

from __future__ import annotations

import ipaddress


def _address(value):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        return None


def _network(value):
    text = str(value).strip()
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def ip_address(value):
    """An IPv4 or IPv6 address (no prefix length)."""
    return _address(value) is not None


def ipv4_address(value):
    """An IPv4 address in dotted-quad form."""
    address = _address(value)
    return address is not None and address.version == 4


def ipv4_network(value):
    """An IPv4 network in CIDR notation (host bits allowed: 10.244.1.0/16 names 10.244.0.0/16)."""
    network = _network(value)
    return network is not None and network.version == 4


def in_network(value, cidr):
    """The address is inside the network cidr."""
    address, network = _address(value), _network(cidr)
    return address is not None and network is not None and address.version == network.version and address in network


def overlapping(value, cidr):
    """The network value shares at least one address with the network cidr."""
    first, second = _network(value), _network(cidr)
    return first is not None and second is not None and first.version == second.version and first.overlaps(second)


class TestModule:
    """kubebin.cluster network tests."""

    def tests(self):
        return {
            "ip_address": ip_address,
            "ipv4_address": ipv4_address,
            "ipv4_network": ipv4_network,
            "in_network": in_network,
            "overlapping": overlapping,
        }
