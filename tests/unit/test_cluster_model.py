# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster model's rules, checked on the roles' source (issue 15; docs/roles/common.md).

* No role reads or writes another role's ``_<role>_`` names: what crosses roles is a
  documented ``kubebin_*`` name of roles/common (or a role's own public variable).
* No role re-defaults a name roles/common defines (``kubebin_x | default(...)``): common's
  defaults apply everywhere. Reading another host's published value with a fallback for
  hosts outside the play (``hostvars[h].kubebin_node_ip | default(...)``) is allowed.
* No role parses addresses with regexes or Jinja arithmetic: the filter and test plugins do.
* Playbook-level expressions (``hosts:`` patterns, a play's ``vars``/``when`` before any role
  is loaded) cannot see roles/common's defaults, so playbooks spell a few of them inline
  (``kubebin_masters_group | default('masters')``): each such inline default must equal the
  value roles/common defines, so the model keeps one source of truth.
"""

from __future__ import annotations

import re

import pytest
import yaml

from ansible_collections.kubebin.cluster.tests.unit.layout import ROLES, ROOT, internal_names

COMMON_NAMES = sorted(yaml.safe_load((ROOT / "roles" / "common" / "defaults" / "main.yml").read_text()))
IP_REGEX = re.compile(r"25\[0-5\]|\[0-9a-fA-F:\]|\* 256|// 16777216|\('\[' ~")


def role_files(role):
    for path in sorted((ROOT / "roles" / role).rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
            yield path


@pytest.mark.parametrize("role", ROLES)
def test_no_role_reads_another_roles_private_names(role):
    foreign = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in role_files(role)
        for name in internal_names(path.read_text(), role)
    }
    assert not foreign, f"role {role} uses other roles' private names: {sorted(foreign)}"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "common"])
def test_no_role_redefaults_a_common_name(role):
    pattern = re.compile(r"(?<![A-Za-z0-9_.\]])(" + "|".join(map(re.escape, COMMON_NAMES)) + r")\s*\|\s*default\(")
    found = {
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for path in role_files(role)
        for match in pattern.finditer(path.read_text())
    }
    assert not found, f"role {role} re-defaults names roles/common defines: {sorted(found)}"


@pytest.mark.parametrize("role", ROLES)
def test_no_address_regexes_or_arithmetic(role):
    found = [str(path.relative_to(ROOT)) for path in role_files(role) if IP_REGEX.search(path.read_text())]
    assert not found, f"address regexes or arithmetic in {found}: use the kubebin.cluster filters and tests"


COMMON_DEFAULTS = yaml.safe_load((ROOT / "roles" / "common" / "defaults" / "main.yml").read_text())
PLAYBOOK_GLOBS = ("playbooks/*.yml", "playbooks/tasks/*.yml", "*.yml")
INLINE_DEFAULT = re.compile(r"(?<![A-Za-z0-9_.\]])(" + "|".join(map(re.escape, COMMON_NAMES))
                            + r")\s*\|\s*default\(((?:'[^']*'|\"[^\"]*\"|[A-Za-z0-9_.\-]+))\)")
# (file, name): why an inline default there is not a copy of common's value.
INLINE_DEFAULT_EXCEPTIONS = {
    ("playbooks/upgrade.yml", "kubebin_kubernetes_version"): "names the missing value in the error message",
}


def inline_defaults(text):
    """(name, value) of each `kubebin_x | default(<literal>)` of a playbook's text."""
    return [(m.group(1), yaml.safe_load(m.group(2))) for m in INLINE_DEFAULT.finditer(text)]


def test_playbook_inline_defaults_equal_common():
    paths = sorted({p for g in PLAYBOOK_GLOBS for p in ROOT.glob(g) if p.is_file()})
    assert any(inline_defaults(p.read_text()) for p in paths), "no inline default found: the pattern is broken"
    wrong = {
        f"{path.relative_to(ROOT)}: {name} | default({value!r}), roles/common: {COMMON_DEFAULTS[name]!r}"
        for path in paths
        for name, value in inline_defaults(path.read_text())
        if (str(path.relative_to(ROOT)), name) not in INLINE_DEFAULT_EXCEPTIONS and value != COMMON_DEFAULTS[name]
    }
    assert not wrong, f"playbook inline defaults that differ from roles/common/defaults/main.yml: {sorted(wrong)}"


def test_the_rules_can_fail():
    """The patterns above match what they are meant to refuse."""
    assert internal_names("{{ hostvars[h]._master_ip }} {{ _node_x }}", "node") == ["_master_ip"]
    assert not internal_names("{{ kubebin_node_ip }}")
    assert re.search(r"(?<![A-Za-z0-9_.\]])(kubebin_masters_are_nodes)\s*\|\s*default\(", "{{ kubebin_masters_are_nodes | default(true) }}")
    assert not re.search(r"(?<![A-Za-z0-9_.\]])(kubebin_node_ip)\s*\|\s*default\(", "{{ hv.kubebin_node_ip | default(h) }}")
    assert IP_REGEX.search("is match('^(25[0-5]|2[0-4][0-9])')")
    assert inline_defaults("{{ kubebin_masters_group | default('controlplane') }} {{ kubebin_masters_are_nodes | default(true) }}") \
        == [("kubebin_masters_group", "controlplane"), ("kubebin_masters_are_nodes", True)]
