# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the network tests (plugins/test/network.py)."""

from __future__ import annotations

import pytest

from ansible_collections.kubebin.cluster.plugins.test import network


@pytest.mark.parametrize(
    ("value", "ip", "ipv4"),
    [
        ("10.0.0.1", True, True),
        ("255.255.255.255", True, True),
        ("256.0.0.1", False, False),
        ("10.0.0", False, False),
        ("fd00::1", True, False),
        ("::ffff:10.0.0.1", True, False),
        ("10.0.0.1/24", False, False),
        ("master1", False, False),
        ("", False, False),
        (None, False, False),
    ],
)
def test_addresses(value, ip, ipv4):
    assert network.ip_address(value) is ip
    assert network.ipv4_address(value) is ipv4


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.96.0.0/12", True), ("10.244.1.0/16", True), ("10.96.0.0", False), ("fd00::/64", False), ("10.96.0.0/33", False), ("x/12", False)],
)
def test_ipv4_network(value, expected):
    assert network.ipv4_network(value) is expected


@pytest.mark.parametrize(
    ("value", "cidr", "expected"),
    [
        ("10.96.0.10", "10.96.0.0/12", True),
        ("10.112.0.1", "10.96.0.0/12", False),
        ("fd00::1", "10.96.0.0/12", False),
        ("bogus", "10.96.0.0/12", False),
        ("10.96.0.10", "bogus", False),
    ],
)
def test_in_network(value, cidr, expected):
    assert network.in_network(value, cidr) is expected


@pytest.mark.parametrize(
    ("value", "cidr", "expected"),
    [
        ("10.244.0.0/16", "10.96.0.0/12", False),
        ("10.96.0.0/16", "10.96.0.0/12", True),
        ("10.0.0.0/8", "10.96.0.0/12", True),
        ("10.112.0.0/12", "10.96.0.0/12", False),
        ("fd00::/64", "10.96.0.0/12", False),
        ("bogus", "10.96.0.0/12", False),
    ],
)
def test_overlapping(value, cidr, expected):
    assert network.overlapping(value, cidr) is expected
