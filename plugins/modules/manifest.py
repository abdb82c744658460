#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: manifest
short_description: Keep a Kubernetes manifest on a host and converge the cluster to it with server-side apply
version_added: 0.1.0
description:
  - Runs on a host with C(kubectl) and a kubeconfig (the collection uses the first master). Writes the
    manifest O(content) to O(path) when it differs, then asks the API server whether applying it would change
    anything (C(kubectl diff --server-side)) and applies it (C(kubectl apply --server-side)) only then.
    Server-side apply prints C(serverside-applied) whether or not anything changed, so the diff is what decides
    whether the task reports a change; a converged cluster reports none.
  - In check mode nothing is written or applied; a manifest whose file would change is diffed from a temporary
    copy, so the prediction is the cluster's answer, not a guess. When the diff cannot run (no kubectl or no
    API server yet, as before a first deployment) the module predicts the apply.
  - C(kubectl diff) that fails (exit code above 1, for example an object in a namespace the same manifest
    creates) counts as a difference; the apply runs and its own error, if any, fails the task.
  - Objects are never deleted (no pruning); an object removed from the manifest stays in the cluster.
author:
  - kubebin.cluster developers (@kubebin)
extends_documentation_fragment:
  - kubebin.cluster.attributes
options:
  kubectl:
    description:
      - The command that runs kubectl against the cluster, as a list, for example
        C([/usr/local/bin/kubectl, --kubeconfig, /etc/kubernetes/admin.kubeconfig]).
    type: list
    elements: str
    required: true
  path:
    description:
      - Where the manifest is kept on the host. Without O(content), the file already there is applied.
    type: path
    required: true
  content:
    description:
      - The manifest (one or more YAML documents), typically from C(lookup('ansible.builtin.template', ...)).
    type: str
  mode:
    description: Mode of the manifest file.
    type: raw
    default: '0644'
  directory_mode:
    description: Mode of the directory that holds O(path) (created when missing, put back when it differs).
    type: raw
    default: '0700'
  field_manager:
    description: The field manager of the server-side apply (C(--field-manager)).
    type: str
    default: kubebin
  force_conflicts:
    description: Take over fields another manager owns (C(--force-conflicts)).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: CoreDNS, rendered and applied on the first master
  kubebin.cluster.manifest:
    kubectl: [/usr/local/bin/kubectl, --kubeconfig, /etc/kubernetes/admin.kubeconfig]
    path: /etc/kubernetes/addons/coredns.yaml
    content: "{{ lookup('ansible.builtin.template', 'coredns.yaml.j2') }}"
    field_manager: kubebin-addons
  delegate_to: "{{ groups['masters'][0] }}"
  run_once: true
"""

RETURN = r"""
file_changed:
  description: Whether the manifest file (its content or mode, or its directory's) was, or in check mode would be, changed.
  returned: always
  type: bool
applied:
  description: Whether C(kubectl apply --server-side) ran (in check mode, whether it would run).
  returned: always
  type: bool
kubectl_diff:
  description: >-
    What C(kubectl diff --server-side) printed (a unified diff of the live objects against the applied ones,
    Secret values masked by kubectl), or its error; empty when the cluster matches the manifest.
  returned: always
  type: str
"""

import os
import stat
import tempfile
import typing as t

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubebin.cluster.plugins.module_utils import _common

Runner = t.Callable[[t.List[str]], t.Tuple[int, str, str]]


def _mode(value: t.Any, field: str) -> int:
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {value!r} is not an octal mode such as '0644'") from None
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"{field}: {value!r} is not an octal mode such as '0644'")
    return mode


def _current_mode(path: str) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _kubectl(params: t.Mapping[str, t.Any], verb: str, path: str) -> t.List[str]:
    argv = list(params["kubectl"]) + [verb, "--server-side", "--field-manager", params["field_manager"]]
    if params["force_conflicts"]:
        argv.append("--force-conflicts")
    return argv + ["-f", path]


def run(params: t.Mapping[str, t.Any], check_mode: bool, runner: Runner,
        scratch_dir: str | None = None, diff: bool = False) -> t.Dict[str, t.Any]:
    """Write the manifest when it differs, diff it against the cluster, apply it when that differs.

    ``runner(argv)`` runs a command and returns (rc, stdout, stderr); it raises OSError when the
    program cannot be started. Returns the module result (with the file's before/after when
    ``diff`` and the content changes); raises ValueError for bad options and RuntimeError when
    the apply fails.
    """
    path = params["path"]
    mode = _mode(params["mode"], "mode")
    directory = os.path.dirname(os.path.abspath(path))
    directory_mode = _mode(params["directory_mode"], "directory_mode")
    content = params.get("content")
    data = content.encode("utf-8") if content is not None else None

    existing = _common.read_file(path, "path", missing_ok=True)
    if data is None and existing is None:
        raise ValueError(f"path: {path} does not exist and no content was given")
    directory_changed = _current_mode(directory) != directory_mode
    content_changed = data is not None and existing != data
    mode_changed = existing is not None and _current_mode(path) != mode
    file_changed = directory_changed or content_changed or mode_changed

    if not check_mode:
        if _current_mode(directory) is None:
            os.makedirs(directory, mode=directory_mode)
        if _current_mode(directory) != directory_mode:
            os.chmod(directory, directory_mode)
        if content_changed:
            _common.write_atomic(path, data, mode)
        elif mode_changed:
            os.chmod(path, mode)

    # What to diff: the file itself, or (check mode, content that would change) a scratch copy.
    scratch = None
    target = path
    if check_mode and content_changed:
        fd, scratch = tempfile.mkstemp(prefix="kubebin-manifest-", suffix=".yaml", dir=scratch_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        target = scratch
    try:
        try:
            rc, out, err = runner(_kubectl(params, "diff", target))
        except OSError as exc:
            if not check_mode:
                raise RuntimeError(f"kubectl: cannot run {params['kubectl'][0]}: {exc.strerror or exc}") from None
            rc, out, err = 2, "", f"cannot run {params['kubectl'][0]}: {exc.strerror or exc}"
    finally:
        if scratch is not None:
            os.unlink(scratch)
    # 0: no difference; 1: differences; more: kubectl could not tell (counts as a difference).
    needs_apply = rc != 0
    kubectl_diff = out if rc in (0, 1) else (err or out).strip()

    if needs_apply and not check_mode:
        rc_apply, out_apply, err_apply = runner(_kubectl(params, "apply", path))
        if rc_apply != 0:
            raise RuntimeError(f"kubectl apply --server-side -f {path} failed (exit {rc_apply}): "
                               f"{(err_apply or out_apply).strip()}")

    result = {
        "changed": file_changed or needs_apply,
        "file_changed": file_changed,
        "applied": needs_apply,
        "kubectl_diff": kubectl_diff,
    }
    if diff and content_changed:
        result["diff"] = {
            "before_header": path,
            "before": (existing or b"").decode("utf-8", "replace"),
            "after_header": path,
            "after": content,
        }
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            kubectl=dict(type="list", elements="str", required=True),
            path=dict(type="path", required=True),
            content=dict(type="str"),
            mode=dict(type="raw", default="0644"),
            directory_mode=dict(type="raw", default="0700"),
            field_manager=dict(type="str", default="kubebin"),
            force_conflicts=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not module.params["kubectl"]:
        module.fail_json(msg="kubectl: give the kubectl command, e.g. [/usr/local/bin/kubectl, --kubeconfig, FILE]",
                         field="kubectl")

    def runner(argv: t.List[str]) -> t.Tuple[int, str, str]:
        return module.run_command(argv, handle_exceptions=False)

    try:
        result = run(module.params, module.check_mode, runner, scratch_dir=module.tmpdir, diff=module._diff)
    except _common.FieldError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except RuntimeError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
