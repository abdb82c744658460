# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of kubebin.cluster.files (documentation: plugins/modules/files.py): reads
each O(files[].src) on the controller into its content, then runs the module once on the
host. Without any src it is a plain module call."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


def with_contents(files):
    """The files list with every src read into content (src dropped)."""
    out = []
    for i, f in enumerate(files or []):
        if not isinstance(f, dict) or not f.get("dest"):
            raise AnsibleActionFail(f"files[{i}]: a dict with dest (and content or src) is required")
        f = dict(f)
        src = f.pop("src", None)
        if (src is None) == (f.get("content") is None):
            raise AnsibleActionFail(f"files[{i}] ({f['dest']}): give exactly one of content and src")
        if src is not None:
            try:
                with open(src, encoding="utf-8") as handle:
                    f["content"] = handle.read()
            except (OSError, UnicodeDecodeError) as exc:
                raise AnsibleActionFail(f"files[{i}] ({f['dest']}): cannot read {src} on the controller: {exc}") from exc
        out.append(f)
    return out


class ActionModule(ActionBase):
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        args["files"] = with_contents(args.get("files"))
        result.update(self._execute_module(module_name="kubebin.cluster.files", module_args=args, task_vars=task_vars))
        return result
