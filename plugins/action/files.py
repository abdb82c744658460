# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of kubebin.cluster.files (documentation: plugins/modules/files.py): reads
each O(files[].src) on the controller into its content, then runs the module once on the
host. Without any src it is a plain module call.

With O(known_state) (what the role's read-only probe found on the host earlier in the run),
the module is not run at all when every path of the task is listed there and matches what the
task makes (kubebin.cluster.paths_to_write): a converged host costs no round trip. A path the
probe did not list, or any difference, runs the module, which decides and reports as always."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail, AnsibleFilterError
from ansible.plugins.action import ActionBase
from ansible_collections.kubebin.cluster.plugins.filter.files import paths_to_write


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
        known = args.pop("known_state", None)
        if known is not None:
            if not isinstance(known, Mapping):
                raise AnsibleActionFail(f"known_state must map paths to probe states, got {type(known).__name__}")
            if self._all_known_and_equal(known, args):
                result.update(changed=False, changed_paths=[], remote_call=False)
                return result
        result.update(self._execute_module(module_name="kubebin.cluster.files", module_args=args, task_vars=task_vars))
        return result

    @staticmethod
    def _all_known_and_equal(known, args):
        """True when the probe listed every path of the task and none differs."""
        directories, files, absent = args.get("directories") or [], args["files"], args.get("absent") or []
        wanted = [d.get("path") for d in directories if isinstance(d, Mapping)] + [f["dest"] for f in files] + list(absent)
        if not all(p in known for p in wanted):
            return False
        try:
            return not paths_to_write(known, files=files, directories=directories, absent=absent)
        except AnsibleFilterError as exc:
            raise AnsibleActionFail(str(exc)) from exc
