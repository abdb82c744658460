# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection's roles are, and what a role-internal name looks like, for the unit
tests that check the source (test_cluster_model, test_entry_points).

A role's internal names are ``_<role>_*`` (``_master_ca``, ``_node_self``); what crosses roles
or reaches playbooks is a documented public name instead (docs/roles/common.md).
"""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / 'roles').iterdir() if (p / 'tasks').is_dir())
ROLE_INTERNAL = re.compile(r'(?<![A-Za-z0-9_])_(?:%s)_[A-Za-z0-9_]*' % '|'.join(re.escape(r) for r in ROLES))


def internal_names(text: str, role: str | None = None) -> list[str]:
    """The role-internal names in ``text``, leaving out those of ``role`` (its own)."""
    own = '_%s_' % role if role else None
    return sorted({name for name in ROLE_INTERNAL.findall(text) if not (own and name.startswith(own))})
