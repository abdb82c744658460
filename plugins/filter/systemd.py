# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd filters of kubebin.cluster. Documentation: the YAML file of the same name as each filter.

A role reads the state of all its services with one ``systemctl show`` and runs
ansible.builtin.systemd_service only for the units this filter returns, instead of one module
call per unit on every run (a converged host then does one read).
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _unit_name(name):
    name = str(name).strip()
    return name if "." in name else name + ".service"


def _parse_show(text):
    """``systemctl show -p Id,ActiveState,UnitFileState u1 u2 ...``: one block of KEY=VALUE lines per unit."""
    units = {}
    for block in str(text).strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def units_to_start(show_output, units):
    """The units of ``units`` that are not both active and enabled, in the order given."""
    if isinstance(units, (str, bytes)) or not isinstance(units, (list, tuple)):
        raise AnsibleFilterError(f"units_to_start: units must be a list of unit names, got {units!r}")
    seen = _parse_show(show_output)
    out = []
    for unit in units:
        props = seen.get(_unit_name(unit), {})
        if props.get("ActiveState") != "active" or props.get("UnitFileState") != "enabled":
            out.append(unit)
    return out


class FilterModule:
    """kubebin.cluster systemd filters."""

    def filters(self):
        return {"units_to_start": units_to_start}
