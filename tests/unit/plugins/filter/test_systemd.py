# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the systemd filters (plugins/filter/systemd.py)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.kubebin.cluster.plugins.filter import systemd

# The shape `systemctl show -p Id,ActiveState,UnitFileState a b c` prints (systemd 252).
SHOW = """Id=kube-apiserver.service
ActiveState=active
UnitFileState=enabled

Id=kube-controller-manager.service
ActiveState=failed
UnitFileState=enabled

Id=kube-scheduler.service
ActiveState=active
UnitFileState=disabled

Id=kubelet.service
ActiveState=inactive
UnitFileState=
"""


def test_only_units_not_active_and_enabled_are_returned_in_order():
    units = ["kube-scheduler", "kube-apiserver", "kube-controller-manager", "kubelet"]
    assert systemd.units_to_start(SHOW, units) == ["kube-scheduler", "kube-controller-manager", "kubelet"]


def test_a_converged_host_has_nothing_to_start():
    assert systemd.units_to_start(SHOW, ["kube-apiserver", "kube-apiserver.service"]) == []


def test_a_unit_absent_from_the_output_is_started():
    assert systemd.units_to_start(SHOW, ["containerd"]) == ["containerd"]
    assert systemd.units_to_start("", ["kube-apiserver"]) == ["kube-apiserver"]


def test_other_unit_types_keep_their_suffix():
    show = "Id=etcd-backup.timer\nActiveState=active\nUnitFileState=enabled\n"
    assert systemd.units_to_start(show, ["etcd-backup.timer", "etcd-backup"]) == ["etcd-backup"]


@pytest.mark.parametrize("units", ["kube-apiserver", None, {"a": 1}])
def test_units_must_be_a_list(units):
    with pytest.raises(AnsibleFilterError, match="units_to_start: units must be a list"):
        systemd.units_to_start(SHOW, units)
