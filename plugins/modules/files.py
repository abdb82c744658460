#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Write a set of small files and directories on a host in one task
version_added: 0.1.0
description:
  - Puts several small files (configuration, systemd units, certificates, keys, kubeconfigs)
    and directories in place in one task, with one round trip to the host, and reports
    exactly which paths it changed (RV(changed_paths)), so that the caller restarts only the
    services whose files changed. It replaces a loop of C(ansible.builtin.copy) or
    C(ansible.builtin.template) tasks, each of which costs a round trip per file.
  - A file's content is given inline (O(files[].content), usually from
    C(lookup('ansible.builtin.template', ...))) or read from a controller file
    (O(files[].src), by the action plugin).
  - Files are compared by content, owner, group and mode; a file that differs is written
    atomically (a temporary file in the same directory, owner and mode set before a byte
    is written, then a rename); only the owner, group or mode is corrected when only they
    differ.
  - Contents never appear in the task's output; in diff mode only files not marked
    O(files[].secret) show a diff.
author:
  - kubebin.cluster contributors (@kubebin)
attributes:
  check_mode:
    support: full
    description: Reports what would change; nothing is written.
  diff_mode:
    support: full
    description: A before/after diff of each changed file that is not O(files[].secret).
  action:
    support: full
    description: An action plugin reads O(files[].src) on the controller.
options:
  files:
    description:
      - The files to write.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: Absolute path on the host. Its directory must exist or be listed in O(directories).
        type: path
        required: true
      content:
        description: The content. Exactly one of O(files[].content) and O(files[].src) is required.
        type: str
      src:
        description: A controller file (absolute path) whose content is written.
        type: path
      mode:
        description: Octal mode, for example V('0600').
        type: str
        default: "0644"
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
      secret:
        description: A key, token or credential file; never shown in a diff.
        type: bool
        default: false
      validate:
        description:
          - A command that checks the new content before it replaces the file, with V(%s)
            standing for a temporary file that holds it (in the file's directory, with the
            file's owner and mode), for example V(haproxy -c -q -f %s). It runs only when the
            file is written; when it fails the file is left as it was and the task fails with
            the command's output. It is not run in check mode (the files it refers to may
            only be planned).
          - Run without a shell; the command is split like a shell command line.
        type: str
  directories:
    description:
      - Directories to create (with their parents) or correct, before the files.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      mode:
        description: Octal mode.
        type: str
        default: "0755"
      owner:
        description: Owner (name or uid).
        type: str
        default: root
      group:
        description: Group (name or gid).
        type: str
        default: root
  absent:
    description:
      - Files to remove when present (for example a configuration that a setting turned off).
    type: list
    elements: path
    default: []
  known_state:
    description:
      - What a read-only probe of the role found on the host earlier in the run, one entry per
        path, in the form that the filter C(kubebin.cluster.path_states_script) prints and
        C(kubebin.cluster.paths_to_write) reads (C(<sha256> <owner> <group> <octal mode>),
        C(dir <owner> <group> <octal mode>), C(absent)).
      - When every path of the task is listed and none differs from what the task makes
        (content, owner, group and mode by name), the action returns C(changed=false) without
        running anything on the host (RV(remote_call) is false). A path not listed, or any
        difference, runs the module as without this option, and the module decides.
      - Give only a state read in the same run, before any other task could have changed these
        paths.
    type: dict
"""

EXAMPLES = r"""
- name: Units and configuration of the kubelet
  kubebin.cluster.files:
    directories:
      - {path: /etc/kubernetes, mode: "0755"}
    files:
      - dest: /etc/systemd/system/kubelet.service
        content: "{{ lookup('ansible.builtin.template', 'kubelet.service.j2') }}"
        mode: "0600"
      - dest: /etc/kubernetes/pki/ca.pem
        src: "{{ kubebin_pki_dir }}/ca.pem"
  register: written

- name: Restart the kubelet when one of its files changed
  ansible.builtin.debug:
    msg: "{{ written.changed_paths }}"
  changed_when: true
  when: written.changed_paths | length > 0
  notify: restart kubelet
"""

RETURN = r"""
changed_paths:
  description: Every path created, rewritten, re-moded or removed (in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/kubelet.service]
remote_call:
  description: False when O(known_state) showed every path as wanted and nothing ran on the host.
  returned: when O(known_state) is given and matched
  type: bool
  sample: false
"""

import grp
import os
import pwd
import shlex
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kubebin.cluster.plugins.module_utils._common import write_atomic


def octal(value, what):
    text = str(value)
    if not text.isdigit() or any(c not in "01234567" for c in text) or len(text.lstrip("0")) > 4:
        raise ValueError(f"{what}: mode must be octal such as '0644' (got {value!r})")
    return int(text, 8)


def uid_of(owner, check):
    """The uid of ``owner``; in check mode an account that does not exist yet (a task before
    this one would create it) is -1, which no file has."""
    try:
        return int(owner) if str(owner).isdigit() else pwd.getpwnam(owner).pw_uid
    except KeyError:
        if check:
            return -1
        raise ValueError(f"no user {owner!r} on this host") from None


def gid_of(group, check):
    try:
        return int(group) if str(group).isdigit() else grp.getgrnam(group).gr_gid
    except KeyError:
        if check:
            return -1
        raise ValueError(f"no group {group!r} on this host") from None


def fix_attrs(path, st, uid, gid, mode, check):
    """Owner, group and mode of an existing path; True when one of them differs."""
    wrong = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, gid, mode)
    if wrong and not check:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return wrong


def validate_argv(command, path):
    """The argv of a validate command, %s replaced by ``path``."""
    if "%s" not in command:
        raise ValueError(f"{path}: validate must contain %s (the file to check), got {command!r}")
    return [path if word == "%s" else word.replace("%s", path) for word in shlex.split(command)]


def prepare_file(path, uid, gid, validate=None, runner=None):
    """The ``prepare`` step of write_atomic for ``path``: owner and group of the temporary
    file, then, with ``validate``, the command on it (``runner(argv)`` returns rc, stdout,
    stderr); a failure leaves ``path`` untouched."""
    def prepare(tmp):
        os.chown(tmp, uid, gid)
        if validate:
            rc, out, err = runner(validate_argv(validate, tmp))
            if rc != 0:
                raise ValueError(f"{path}: the new content failed validation ({validate}, rc={rc}): "
                                 f"{(err or out).strip().replace(tmp, path)}")
    return prepare


def run(params, check, want_diff, runner=None):
    """Apply ``params``; ``runner(argv)`` -> (rc, stdout, stderr) runs validate commands."""
    changed, diffs = [], []
    for d in params["directories"]:
        path = d["path"]
        uid, gid, mode = uid_of(d["owner"], check), gid_of(d["group"], check), octal(d["mode"], path)
        if not os.path.lexists(path):
            changed.append(path)
            if not check:
                os.makedirs(path, mode)
                os.chown(path, uid, gid)
                os.chmod(path, mode)
            continue
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{path} exists and is not a directory")
        if fix_attrs(path, st, uid, gid, mode, check):
            changed.append(path)

    for f in params["files"]:
        path = f["dest"]
        if not os.path.isabs(path):
            raise ValueError(f"{path}: dest must be an absolute path")
        uid, gid, mode = uid_of(f["owner"], check), gid_of(f["group"], check), octal(f["mode"], path)
        data = (f["content"] or "").encode("utf-8")
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{path} exists and is not a regular file")
        before = b""
        if st is not None:
            with open(path, "rb") as handle:
                before = handle.read()
        if st is None or before != data:
            changed.append(path)
            if want_diff and not f["secret"]:
                diffs.append({"before_header": path, "after_header": path,
                              "before": before.decode("utf-8", "replace"), "after": data.decode("utf-8", "replace")})
            if not check:
                if not os.path.isdir(os.path.dirname(path)):
                    raise ValueError(f"{path}: directory {os.path.dirname(path)} does not exist")
                write_atomic(path, data, mode, prepare=prepare_file(path, uid, gid, f.get("validate"), runner))
        elif fix_attrs(path, st, uid, gid, mode, check):
            changed.append(path)

    for path in params["absent"]:
        if os.path.lexists(path):
            changed.append(path)
            if not check:
                os.unlink(path)
    return changed, diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", default=[], options=dict(
                dest=dict(type="path", required=True),
                content=dict(type="str", no_log=True),
                src=dict(type="path"),
                mode=dict(type="str", default="0644"),
                owner=dict(type="str", default="root"),
                group=dict(type="str", default="root"),
                secret=dict(type="bool", default=False),
                validate=dict(type="str"),
            )),
            directories=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                mode=dict(type="str", default="0755"),
                owner=dict(type="str", default="root"),
                group=dict(type="str", default="root"),
            )),
            absent=dict(type="list", elements="path", default=[]),
            known_state=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    for f in module.params["files"]:
        if f["content"] is None:
            module.fail_json(msg=f"{f['dest']}: no content (give content, or src through the action plugin)")
    try:
        changed, diffs = run(module.params, module.check_mode, module._diff,
                             lambda argv: module.run_command(argv, environ_update={"LC_ALL": "C"}))
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"kubebin.cluster.files: {exc}")
    result = {"changed": bool(changed), "changed_paths": changed}
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
