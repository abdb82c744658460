#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kubeconfig
short_description: Write one cluster, user and context into a kubeconfig file
version_added: 0.1.0
description:
  - Adds or replaces one cluster (server URL and embedded CA certificate), one user
    (embedded client certificate and key, or a bearer token) and one context in a kubeconfig
    file, and optionally makes that context the current one. This is what the four commands
    C(kubectl config set-cluster --embed-certs), C(set-credentials --embed-certs),
    C(set-context) and C(use-context) do, in one idempotent task.
  - Other clusters, users and contexts in the file, and unknown top-level keys such as
    C(extensions), are kept. An entry with the same name is replaced as a whole (it is not
    merged field by field), so the file always matches the task.
  - The module is idempotent by content, not by bytes. The existing file is parsed and
    compared as a structure, so key order, quoting and formatting do not cause a rewrite.
  - Before anything is written the inputs are validated; each error names the option at
    fault. The server must be an C(https://) URL; certificate and key files must be readable
    PEM; the client certificate must be signed by O(ca_cert) (issuer and signature are
    checked); the client key must match the client certificate.
  - The file is written atomically (a temporary file in the same directory, then a rename)
    and its permissions are set to O(mode), C(0600) by default, also when the content is
    already right.
  - Private keys and tokens never appear in the output or in the diff, including those of
    other users already in the file.
author:
  - kubebin.cluster contributors (@kubebin)
requirements:
  - cryptography >= 3.3 (on the host that runs the module, usually the controller)
  - PyYAML
extends_documentation_fragment:
  - kubebin.cluster.attributes
options:
  path:
    description:
      - The kubeconfig file to create or update. Its directory must exist.
      - Required unless O(kubeconfigs) is given (the two are mutually exclusive).
    type: path
  kubeconfigs:
    description:
      - Several kubeconfig files in one task (one module run instead of a loop of them).
      - Each element names its O(kubeconfigs[].path) and the options that differ between the
        files; an option an element leaves out is taken from the task's own option of the same
        name (O(cluster), O(ca_cert), O(server), O(user), O(mode), ...).
      - Every file is validated and planned before any is written, so one bad element leaves
        every file as it was. The result lists each file in RV(results).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      path:
        description: The kubeconfig file. Its directory must exist.
        type: path
        required: true
      server:
        description: As O(server).
        type: str
      user:
        description: As O(user).
        type: str
      context:
        description: As O(context).
        type: str
      namespace:
        description: As O(namespace).
        type: str
      client_cert:
        description: As O(client_cert).
        type: path
      client_cert_content:
        description: As O(client_cert_content).
        type: str
      client_key:
        description: As O(client_key).
        type: path
      client_key_content:
        description: As O(client_key_content).
        type: str
      token:
        description: As O(token).
        type: str
      current_context:
        description: As O(current_context).
        type: bool
      mode:
        description: As O(mode).
        type: raw
  state:
    description:
      - V(present) adds or replaces the cluster, user and context.
      - V(absent) removes the context, then the cluster and the user unless another context
        in the file still refers to them (they are kept, with a warning). If the removed
        context was the current context, C(current-context) is emptied. The file itself is
        never deleted, even when nothing is left in it.
    type: str
    choices: [present, absent]
    default: present
  cluster:
    description:
      - Name of the cluster entry, for example V(kubernetes).
    type: str
    required: true
  server:
    description:
      - URL of the kube-apiserver, for example V(https://10.0.0.10:6443).
      - Must be an C(https://) URL with a host. Required when O(state=present).
    type: str
  ca_cert:
    description:
      - Path to the PEM CA certificate (or bundle) that signed the kube-apiserver
        certificate, embedded as C(certificate-authority-data).
      - One of O(ca_cert) and O(ca_cert_content) is required when O(state=present).
    type: path
  ca_cert_content:
    description:
      - The PEM CA certificate itself, instead of O(ca_cert).
    type: str
  user:
    description:
      - Name of the user entry, for example V(admin) or V(system:kube-controller-manager).
      - Required when O(state=present).
    type: str
  client_cert:
    description:
      - Path to the PEM client certificate, embedded as C(client-certificate-data).
      - It must be signed by the CA in O(ca_cert) or O(ca_cert_content).
      - Mutually exclusive with O(token).
    type: path
  client_cert_content:
    description:
      - The PEM client certificate itself, instead of O(client_cert).
    type: str
  client_key:
    description:
      - Path to the unencrypted PEM private key of O(client_cert), embedded as
        C(client-key-data). It must match the certificate.
    type: path
  client_key_content:
    description:
      - The PEM private key itself, instead of O(client_key).
    type: str
  token:
    description:
      - A bearer token (for example a bootstrap token C(<id>.<secret>)), stored as the
        user's C(token). Mutually exclusive with the client certificate options.
    type: str
  context:
    description:
      - Name of the context entry.
      - Defaults to V(<user>@<cluster>), as kubeadm names its contexts
        (V(kubernetes-admin@kubernetes)).
    type: str
  namespace:
    description:
      - Default namespace of the context. Omitted from the context when not set.
    type: str
  current_context:
    description:
      - Make this context the file's C(current-context) (what C(kubectl config use-context) does).
      - When V(false), C(current-context) is left as it is.
    type: bool
    default: true
  mode:
    description:
      - Permissions of the file, as an octal string such as V('0600') or in symbolic form.
      - Enforced on every run; a file whose content is right but whose mode is not is
        reported as changed.
    type: raw
    default: '0600'
  backup:
    description:
      - Keep a timestamped copy of the previous file when the content changes.
    type: bool
    default: false
notes:
  - The module runs where the PKI lives, usually the controller (C(delegate_to=localhost)).
  - Output is written in kubectl's layout (keys in alphabetical order, certificates embedded).
seealso:
  - name: Organizing cluster access using kubeconfig files
    description: The kubeconfig file format.
    link: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/
  - name: kubectl config
    description: The commands this module replaces.
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_config/
"""

EXAMPLES = r"""
---
- name: Write the admin kubeconfig (set-cluster, set-credentials, set-context, use-context)
  kubebin.cluster.kubeconfig:
    path: "{{ kubebin_pki_dir }}/admin.kubeconfig"
    cluster: kubernetes
    server: https://10.0.0.10:6443
    ca_cert: "{{ kubebin_pki_dir }}/ca.pem"
    user: admin
    client_cert: "{{ kubebin_pki_dir }}/admin.pem"
    client_key: "{{ kubebin_pki_dir }}/admin-key.pem"
  delegate_to: localhost
  run_once: true

- name: Kubeconfig of kube-controller-manager, talking to the local apiserver
  kubebin.cluster.kubeconfig:
    path: "{{ kubebin_pki_dir }}/kube-controller-manager.kubeconfig"
    cluster: kubernetes
    server: https://127.0.0.1:6443
    ca_cert: "{{ kubebin_pki_dir }}/ca.pem"
    user: system:kube-controller-manager
    context: default
    client_cert: "{{ kubebin_pki_dir }}/kube-controller-manager.pem"
    client_key: "{{ kubebin_pki_dir }}/kube-controller-manager-key.pem"
  delegate_to: localhost
  run_once: true

- name: TLS bootstrap kubeconfig for the kubelet, with a bootstrap token
  kubebin.cluster.kubeconfig:
    path: "{{ kubebin_pki_dir }}/bootstrap.kubeconfig"
    cluster: kubernetes
    server: https://10.0.0.10:6443
    ca_cert: "{{ kubebin_pki_dir }}/ca.pem"
    user: kubelet-bootstrap
    context: default
    token: "{{ bootstrap_token }}"
  delegate_to: localhost
  run_once: true

- name: Add a second context with a default namespace, keep the current context
  kubebin.cluster.kubeconfig:
    path: "{{ kubebin_pki_dir }}/admin.kubeconfig"
    cluster: kubernetes
    server: https://10.0.0.10:6443
    ca_cert: "{{ kubebin_pki_dir }}/ca.pem"
    user: admin
    context: admin@kube-system
    namespace: kube-system
    current_context: false
    client_cert: "{{ kubebin_pki_dir }}/admin.pem"
    client_key: "{{ kubebin_pki_dir }}/admin-key.pem"
  delegate_to: localhost
  run_once: true

- name: Two component kubeconfigs in one task (the options they share are given once)
  kubebin.cluster.kubeconfig:
    cluster: kubernetes
    server: https://127.0.0.1:6443
    ca_cert: "{{ kubebin_pki_dir }}/ca.pem"
    kubeconfigs:
      - path: "{{ kubebin_pki_dir }}/kube-controller-manager.kubeconfig"
        user: system:kube-controller-manager
        client_cert: "{{ kubebin_pki_dir }}/kube-controller-manager.pem"
        client_key: "{{ kubebin_pki_dir }}/kube-controller-manager-key.pem"
      - path: "{{ kubebin_pki_dir }}/kube-scheduler.kubeconfig"
        user: system:kube-scheduler
        client_cert: "{{ kubebin_pki_dir }}/kube-scheduler.pem"
        client_key: "{{ kubebin_pki_dir }}/kube-scheduler-key.pem"
  delegate_to: localhost
  run_once: true

- name: Remove that context again (the file is kept)
  kubebin.cluster.kubeconfig:
    path: "{{ kubebin_pki_dir }}/admin.kubeconfig"
    cluster: kubernetes
    context: admin@kube-system
    state: absent
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: The kubeconfig file.
  returned: when O(path) is given
  type: str
  sample: /etc/kubernetes/admin.kubeconfig
context:
  description: Name of the context written or removed (V(<user>@<cluster>) unless O(context) was given).
  returned: when O(path) is given
  type: str
  sample: admin@kubernetes
results:
  description: One entry per element of O(kubeconfigs), in their order.
  returned: when O(kubeconfigs) is given
  type: list
  elements: dict
  contains:
    path:
      description: The kubeconfig file.
      type: str
    context:
      description: Name of the context written or removed.
      type: str
    changed:
      description: Whether this file's content or mode changed (or would, in check mode).
      type: bool
    backup_file:
      description: The copy of the previous file, when O(backup=true) and the content changed.
      type: str
changed_paths:
  description: The files of O(kubeconfigs) that changed (or would, in check mode).
  returned: when O(kubeconfigs) is given
  type: list
  elements: str
  sample: [/etc/kubernetes/admin.kubeconfig]
backup_file:
  description: The copy of the previous file.
  returned: when O(backup=true) and the content changed
  type: str
  sample: /etc/kubernetes/admin.kubeconfig.12345.2026-01-01@12:00:00~
diff:
  description:
    - The file before and after, as YAML, in diff mode.
    - Private keys, tokens and passwords read V(REDACTED) (V(REDACTED (changed)) in C(after)
      when they change); certificates are shown as a short SHA-256 fingerprint.
  returned: in diff mode
  type: dict
  contains:
    before:
      description: The previous content (empty if there was no file).
      type: str
    after:
      description: The new content.
      type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubebin.cluster.plugins.module_utils._kubeconfig import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    HAS_YAML,
    YAML_IMPORT_ERROR,
    KubeconfigError,
    diff_texts,
    dump_config,
    plan,
    read_existing,
    secret_values,
    write_atomically,
)

_OPTIONS = dict(
    path=dict(type="path"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    cluster=dict(type="str", required=True),
    server=dict(type="str"),
    ca_cert=dict(type="path"),
    ca_cert_content=dict(type="str"),
    user=dict(type="str"),
    client_cert=dict(type="path"),
    client_cert_content=dict(type="str"),
    client_key=dict(type="path", no_log=False),
    client_key_content=dict(type="str", no_log=True),
    token=dict(type="str", no_log=True),
    context=dict(type="str"),
    namespace=dict(type="str"),
    current_context=dict(type="bool", default=True),
    mode=dict(type="raw", default="0600"),
    backup=dict(type="bool", default=False),
)
CERT_OPTIONS = ("client_cert", "client_cert_content", "client_key", "client_key_content")
MUTUALLY_EXCLUSIVE = [
    ("ca_cert", "ca_cert_content"),
    ("client_cert", "client_cert_content"),
    ("client_key", "client_key_content"),
] + [("token", option) for option in CERT_OPTIONS]
# The options an element of `kubeconfigs` may set; the task's own option is its default.
ITEM_OPTIONS = ("path", "server", "user", "context", "namespace", "client_cert", "client_cert_content",
                "client_key", "client_key_content", "token", "current_context", "mode")


def _item_spec() -> dict:
    """The task's options an element may set, without their defaults (None = the task's value)."""
    spec = {name: {k: v for k, v in _OPTIONS[name].items() if k != "default"} for name in ITEM_OPTIONS}
    spec["path"]["required"] = True
    return spec


ARGUMENT_SPEC = dict(_OPTIONS, kubeconfigs=dict(type="list", elements="dict", options=_item_spec()))


def _items(params: dict) -> list[tuple[str, dict]]:
    """(label, options) of every file of the task: the task itself (label ""), or each
    element of kubeconfigs over the task's options (label "kubeconfigs[N].")."""
    if params["kubeconfigs"] is None:
        return [("", params)]
    items = []
    for index, element in enumerate(params["kubeconfigs"]):
        merged = dict(params, kubeconfigs=None)
        merged.update((k, v) for k, v in element.items() if v is not None)
        for first, second in MUTUALLY_EXCLUSIVE:
            if merged.get(first) is not None and merged.get(second) is not None:
                raise KubeconfigError(f"kubeconfigs[{index}]", f"{first} and {second} are mutually exclusive "
                                      "(one may come from the task's own options)")
        items.append((f"kubeconfigs[{index}].", merged))
    return items


def _apply(module: AnsibleModule, item: dict, todo) -> dict:
    """Write one planned file (not in check mode) and set its mode; its result."""
    path = item["path"]
    result = dict(changed=todo.content_changed, path=path, context=todo.context)
    if todo.content_changed and not module.check_mode:
        if item["backup"] and os.path.exists(path):
            result["backup_file"] = module.backup_local(path)
        write_atomically(module, path, dump_config(todo.after), item["mode"])
    if os.path.exists(path) and (item["state"] == "present" or todo.content_changed):
        result["changed"] = module.set_mode_if_different(path, item["mode"], result["changed"])
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=MUTUALLY_EXCLUSIVE + [("path", "kubeconfigs")],
        required_one_of=[("path", "kubeconfigs")],
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)

    # Every file is read, validated and planned first; nothing is written while one fails.
    planned = []
    label = ""
    try:
        for label, item in _items(module.params):
            todo = plan(item, read_existing(item["path"]))
            module.no_log_values.update(secret_values(todo.before) + secret_values(todo.after))
            for warning in todo.warnings:
                module.warn(label + warning)
            planned.append((label, item, todo))
        results = []
        for label, item, todo in planned:
            results.append(_apply(module, item, todo))
    except KubeconfigError as exc:
        module.fail_json(msg=label + str(exc), field=label + exc.field)

    if module.params["kubeconfigs"] is None:
        result = results[0]
        if module._diff:
            result["diff"] = diff_texts(planned[0][2].before, planned[0][2].after)
    else:
        result = dict(changed=any(r["changed"] for r in results), results=results,
                      changed_paths=[r["path"] for r in results if r["changed"]])
        if module._diff:
            result["diff"] = [dict(diff_texts(todo.before, todo.after), before_header=item["path"],
                                   after_header=item["path"]) for label, item, todo in planned]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
