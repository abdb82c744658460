#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: csr_approve
short_description: Approve kubelet certificate signing requests that pass a policy
version_added: 0.1.0
description:
  - Replaces the seed guides' manual C(kubectl certificate approve), the way kubelet-csr-approver does,
    but built in. Looks at every pending CertificateSigningRequest of the kubelet signers
    C(kubernetes.io/kube-apiserver-client-kubelet) (client certificates) and C(kubernetes.io/kubelet-serving)
    (serving certificates, which nothing upstream approves), approves those that pass the policy below, and
    reports the others with the reason.
  - "Policy, for both signers: CN is C(system:node:<name>) and O exactly C(system:nodes); the node is one of
    O(nodes); no e-mail or URI SANs; C(expirationSeconds), when requested, at most O(max_expiration_seconds)."
  - "Serving certificates: the requesting user is the CN and is in C(system:nodes); usages are C(digital signature),
    C(server auth) (and C(key encipherment)); every IP SAN is one of that node's O(nodes[].addresses); every DNS SAN is
    exactly one of the names that node has (compared case-insensitively, no prefix or wildcard matching): its node name,
    one of its O(nodes[].dns_names), or C(<name>.<domain>) for a domain of O(dns_domains)."
  - "A DNS name that would be allowed for two nodes is allowed for neither (a node name stays its own node's).
    Wildcards, localhost names and the names of the cluster's API and Services (C(kubernetes),
    C(kubernetes.default[.svc[.<domain>]]), C(<svc>.<ns>.svc[.<domain>]), C(<ip>.<ns>.pod[.<domain>])) are never approved."
  - "Client certificates: no SANs; usages within C(digital signature), C(key encipherment), C(client auth); requested
    either by a bootstrap token user (C(system:bootstrap:<id>) in C(system:bootstrappers)) or, for a renewal, by the
    node itself (the requesting user equals the CN)."
  - Can wait until the client and serving CSRs of given nodes have appeared and are approved.
author:
  - kubebin.cluster developers (@kubebin)
requirements:
  - kubernetes (Python client)
  - cryptography
extends_documentation_fragment:
  - kubebin.cluster.attributes
options:
  kubeconfig:
    description: Kubeconfig with the right to approve kubelet CSRs (for example the admin kubeconfig).
    type: path
    required: true
  context:
    description: Context of O(kubeconfig) to use; default its current context.
    type: str
  nodes:
    description: The expected nodes. A CSR for any other node is rejected.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Node name (the kubelet's C(--hostname-override) or host name).
        type: str
        required: true
      addresses:
        description: The node's IP addresses, the only IP SANs its serving certificate may carry.
        type: list
        elements: str
        default: []
      dns_names:
        description:
          - DNS names the node has besides its node name (its host name and FQDN, for example), each allowed as a DNS
            SAN of its serving certificate. Exact names, no wildcards; IP addresses belong in O(nodes[].addresses).
          - Localhost names and Kubernetes API or Service names in this list are ignored.
        type: list
        elements: str
        default: []
  dns_domains:
    description:
      - Domains under which every node may also be named. For each domain C(D), a node named C(<name>) may have the
        DNS SAN C(<name>.D), and, when C(<name>) has dots, C(<first label of name>.D). Nothing deeper
        (C(<name>.evil.D) is refused).
      - Write the domain itself (C(example.com)); a leading dot, a trailing dot or a wildcard is an error.
    type: list
    elements: str
    default: []
  wait_for:
    description:
      - Node names whose CSRs must be approved before the module returns (approved now, or approved earlier and
        still listed). Fails after O(timeout) seconds, naming what is missing.
    type: list
    elements: str
    default: []
  wait_for_kinds:
    description: Which CSRs O(wait_for) waits for.
    type: list
    elements: str
    choices: [client, serving]
    default: [client, serving]
  timeout:
    description: Seconds to wait for O(wait_for).
    type: int
    default: 300
  deny:
    description:
      - Mark CSRs that fail the policy as Denied. By default they are only reported and left pending
        (they are garbage-collected by the controller manager).
    type: bool
    default: false
  max_expiration_seconds:
    description: Longest C(spec.expirationSeconds) a CSR may request.
    type: int
    default: 31536000
notes:
  - In check mode nothing is approved or denied and nothing is waited for; the result says what would be approved.
seealso:
  - module: kubebin.cluster.bootstrap_token
"""

EXAMPLES = r"""
---
# ansible_host must be each node's IP address here (not a host name)
- name: Describe the expected nodes from the inventory
  ansible.builtin.set_fact:
    expected_nodes: "{{ expected_nodes | default([]) + [{'name': item, 'addresses': [hostvars[item].ansible_host]}] }}"
  loop: "{{ groups['nodes'] }}"
  run_once: true

- name: Approve the kubelet CSRs of the nodes, waiting for them (from the controller)
  kubebin.cluster.csr_approve:
    kubeconfig: "{{ inventory_dir }}/.kubebin/kubebin/admin.kubeconfig"
    nodes: "{{ expected_nodes }}"
    wait_for: "{{ groups['nodes'] }}"
    timeout: 300
  delegate_to: localhost
  run_once: true

- name: Approve what is pending now, for two known nodes (on a master)
  kubebin.cluster.csr_approve:
    kubeconfig: /etc/kubernetes/admin.kubeconfig
    nodes:
      - name: node1
        addresses: [192.0.2.31]
        dns_names: [node1.corp.example]
      - name: node2
        addresses: [192.0.2.32, "2001:db8::32"]
    # node1.k8s.example and node2.k8s.example are allowed too
    dns_domains: [k8s.example]
"""

RETURN = r"""
approved:
  description: CSRs approved by this run (in check mode, those that would be).
  returned: always
  type: list
  elements: dict
  sample:
    - name: csr-8kq2m
      node: node1
      kind: serving
      signer: kubernetes.io/kubelet-serving
      username: "system:node:node1"
      reason: kubelet serving certificate matches its node
rejected:
  description: Pending kubelet CSRs that fail the policy, with the reason, and C(denied) when marked Denied.
  returned: always
  type: list
  elements: dict
  sample:
    - name: csr-x7b1
      node: node1
      kind: serving
      signer: kubernetes.io/kubelet-serving
      username: "system:node:node1"
      reason: "IP SAN 203.0.113.9 is not an address of node 'node1' (known: 192.0.2.31)"
      denied: false
ignored:
  description: CSRs left alone (other signers, already approved or denied), with the reason.
  returned: always
  type: list
  elements: dict
waited_for:
  description: The C(<node>/<kind>) pairs that were waited for.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubebin.cluster.plugins.module_utils import _csr_policy, _k8s_client


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path", required=True),
            context=dict(type="str"),
            nodes=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                addresses=dict(type="list", elements="str", default=[]),
                dns_names=dict(type="list", elements="str", default=[]),
            )),
            dns_domains=dict(type="list", elements="str", default=[]),
            wait_for=dict(type="list", elements="str", default=[]),
            wait_for_kinds=dict(type="list", elements="str", choices=["client", "serving"], default=["client", "serving"]),
            timeout=dict(type="int", default=300),
            deny=dict(type="bool", default=False),
            max_expiration_seconds=dict(type="int", default=31536000),
        ),
        supports_check_mode=True,
    )
    if not _k8s_client.HAS_KUBERNETES:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=_k8s_client.KUBERNETES_IMPORT_ERROR)
    if not _csr_policy.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_csr_policy.CRYPTOGRAPHY_IMPORT_ERROR)
    params = module.params
    try:
        nodes = _csr_policy.parse_nodes(params["nodes"], params["dns_domains"])
        service = _k8s_client.CSRService(_k8s_client.connect(params["kubeconfig"], params["context"]))
        result = _csr_policy.run(
            service, nodes,
            wait_for=params["wait_for"], wait_kinds=params["wait_for_kinds"], timeout=params["timeout"],
            deny=params["deny"], check_mode=module.check_mode,
            max_expiration_seconds=params["max_expiration_seconds"],
        )
    except _csr_policy.PolicyError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except _k8s_client.K8sError as exc:
        module.fail_json(msg=str(exc))
    if module._diff and result["changed"]:
        result["diff"] = {"before": {"pending": [e["name"] for e in result["approved"]]},
                          "after": {"approved": [e["name"] for e in result["approved"]]}}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
