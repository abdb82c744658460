#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bootstrap_token
short_description: Create, reuse, list and delete Kubernetes bootstrap tokens
version_added: 0.1.0
description:
  - Manages TLS-bootstrap tokens as C(kube-system/bootstrap-token-<id>) Secrets of type
    C(bootstrap.kubernetes.io/token), which kube-apiserver accepts with C(--enable-bootstrap-token-auth)
    (the modern replacement of the seed guides' C(token.csv)).
  - With O(state=present), reuses a live token with the same O(description), O(usages) and O(groups) that is
    valid for more than O(min_ttl); otherwise creates a new one valid for O(ttl). A second run therefore
    reports no change and returns the same token.
  - Expired tokens are deleted (O(cleanup_expired)); the API server ignores them anyway, and the
    controller manager's token cleaner may not be enabled.
  - No static token file is written (the seed guides' C(token.csv) for C(--token-auth-file)); the
    C(token_csv) option was removed on purpose (docs/security.md of the collection says why).
  - "B(The returned token is a secret): register the result in a task with C(no_log: true)."
  - Every result lists the tokens in RV(tokens), without their secret parts; running with O(state=present) in
    check mode lists them without changing anything.
author:
  - kubebin.cluster developers (@kubebin)
requirements:
  - kubernetes (Python client)
extends_documentation_fragment:
  - kubebin.cluster.attributes
options:
  kubeconfig:
    description: Kubeconfig allowed to manage Secrets in C(kube-system) (for example the admin kubeconfig).
    type: path
    required: true
  context:
    description: Context of O(kubeconfig) to use; default its current context.
    type: str
  state:
    description:
      - C(present) ensures a token (reused or new) and returns it; C(absent) deletes the tokens with O(token_id),
        or else all with O(description).
    type: str
    choices: [present, absent]
    default: present
  description:
    description: Human-readable description, stored in the Secret; the key by which a token is found again.
    type: str
    default: kubebin.cluster node bootstrap token
  token:
    description:
      - An exact token C([a-z0-9]{6}.[a-z0-9]{16}) to ensure instead of a generated one.
    type: str
  token_id:
    description: With O(state=absent), the id (first 6 characters) of the token to delete.
    type: str
  usages:
    description:
      - C(authentication) lets the token authenticate as C(system:bootstrap:<id>) in group C(system:bootstrappers);
        C(signing) lets it sign the C(cluster-info) ConfigMap (kubeadm join discovery, not needed here).
    type: list
    elements: str
    choices: [authentication, signing]
    default: [authentication]
  groups:
    description: Extra groups (C(auth-extra-groups)), each C(system:bootstrappers:<name>).
    type: list
    elements: str
    default: ["system:bootstrappers:kubebin:default-node-token"]
  ttl:
    description: Lifetime of a new token (C(24h), C(90m), C(1d12h)); C(0) means it never expires (not recommended).
    type: str
    default: 24h
  min_ttl:
    description: A token is reused only while it stays valid for longer than this.
    type: str
    default: 1h
  cleanup_expired:
    description: Delete expired bootstrap-token Secrets.
    type: bool
    default: true
notes:
  - In check mode a token that would be created is not returned (C(token) is null).
seealso:
  - module: kubebin.cluster.csr_approve
  - name: Authenticating with Bootstrap Tokens
    description: Kubernetes documentation of the token format and Secret fields.
    link: https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/
"""

EXAMPLES = r"""
---
- name: Get a bootstrap token for the kubelets (reused while valid for more than an hour)
  kubebin.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.kubeconfig
    ttl: 24h
  register: bootstrap
  no_log: true

- name: List the tokens (no secrets), changing nothing
  kubebin.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.kubeconfig
  check_mode: true
  register: tokens

- name: Delete one token
  kubebin.cluster.bootstrap_token:
    kubeconfig: /etc/kubernetes/admin.kubeconfig
    state: absent
    token_id: abcdef
"""

RETURN = r"""
token:
  description: The token (C(<id>.<secret>)). A secret. Null in check mode when it would be created.
  returned: state=present
  type: str
token_id:
  description: The token's id (public part).
  returned: state=present
  type: str
  sample: abcdef
expiration:
  description: When the token expires (UTC, RFC 3339), or null.
  returned: state=present
  type: str
  sample: "2026-11-23T10:00:00Z"
created:
  description: Whether a new token was created.
  returned: state=present
  type: bool
deleted:
  description: Ids of the tokens deleted (expired ones, or those named by O(state=absent)).
  returned: always
  type: list
  elements: str
tokens:
  description: The tokens after this run, without their secret parts.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubebin.cluster.plugins.module_utils import _bootstrap, _k8s_client


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path", required=True),
            context=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            description=dict(type="str", default="kubebin.cluster node bootstrap token"),
            token=dict(type="str", no_log=True),
            token_id=dict(type="str"),
            usages=dict(type="list", elements="str", choices=list(_bootstrap.USAGES), default=["authentication"]),
            groups=dict(type="list", elements="str", default=["system:bootstrappers:kubebin:default-node-token"]),
            ttl=dict(type="str", default="24h"),
            min_ttl=dict(type="str", default="1h"),
            cleanup_expired=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if not _k8s_client.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=_k8s_client.KUBERNETES_IMPORT_ERROR)
    try:
        if module.params["state"] == "present":
            _bootstrap.parse_want(module.params)  # bad input fails before any API call
        service = _k8s_client.SecretService(_k8s_client.connect(module.params["kubeconfig"], module.params["context"]))
        result = _bootstrap.run(service, module.params, module.check_mode)
    except _bootstrap.TokenError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except _k8s_client.K8sError as exc:
        module.fail_json(msg=str(exc))
    if module._diff and result["changed"]:
        result["diff"] = {
            "before": {"tokens": "(unchanged)" if not result.get("deleted") else {"deleted": result["deleted"]}},
            "after": {"created": result.get("token_id") if result.get("created") else None},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
