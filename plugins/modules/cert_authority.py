#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cert_authority
short_description: Keep a cluster's certificate authorities, leaf certificates and service-account key pair
version_added: 0.1.0
description:
  - Creates and keeps the whole PKI of a Kubernetes cluster in one directory, in one task, the job of the
    C(cfssl gencert) steps of the classic binary-install guides.
  - Creates the certificate authorities (by default a cluster CA C(ca), an etcd CA C(etcd-ca) and a
    front-proxy CA C(front-proxy-ca); or one shared CA with O(shared_ca=true)), the service-account signing
    key pair, and any number of leaf certificates signed by those CAs.
  - "File names follow the guides: C(<name>.pem) and C(<name>-key.pem) for CAs and leaves
    (C(ca.pem), C(ca-key.pem), ...), C(<service_account_key_name>.pub) and C(<service_account_key_name>-key.pem)
    for the service-account key pair."
  - A leaf is (re)issued only when it is missing, when it no longer matches its spec (subject, SANs, usages,
    issuer, key type, key/certificate mismatch), when it expires within O(renew_before_days), or when named in
    O(force_renew). The reason is returned. A new key is generated with every issue.
  - An existing CA is never regenerated unless O(force_ca=true); a CA whose key does not match its certificate,
    or of which only one file exists, is refused.
  - Every input and every existing file is validated before anything is written. Private keys are written
    C(0600), certificates C(0644), the directory C(0700), each file atomically (temp file and rename).
  - "Runs where the files live; for a cluster PKI kept on the Ansible controller use C(delegate_to: localhost)
    and C(run_once: true)."
author:
  - kubebin.cluster developers (@kubebin)
requirements:
  - cryptography >= 42.0
extends_documentation_fragment:
  - kubebin.cluster.attributes
options:
  path:
    description: Directory holding the PKI. Created with mode C(0700) (an existing one is set to C(0700)).
    type: path
    required: true
  shared_ca:
    description:
      - Use a single CA C(ca) for everything, as the seed guides do. Every certificate is signed by it,
        whatever its O(certificates[].ca) says.
      - The default, separate CAs for the cluster, etcd and the front proxy, limits what a leaked CA key can sign.
    type: bool
    default: false
  cas:
    description:
      - The certificate authorities. Default, three CAs C(ca) (CN C(kubernetes-ca)), C(etcd-ca) and
        C(front-proxy-ca); with O(shared_ca=true), only C(ca).
    type: list
    elements: dict
    suboptions:
      name:
        description: File name stem (C(ca) gives C(ca.pem) and C(ca-key.pem)), and the name leaves refer to.
        type: str
        required: true
      common_name:
        description: Subject CN.
        type: str
        required: true
      organization:
        description: Subject O values.
        type: list
        elements: str
      key_type:
        description: Key type; default O(ca_key_type).
        type: str
        choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256]
      validity_days:
        description: Lifetime of a new CA; default O(ca_validity_days).
        type: int
  ca_key_type:
    description: Default key type of the CAs.
    type: str
    default: rsa2048
    choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256]
  ca_validity_days:
    description: Default lifetime of a new CA, in days (10 years, as kubeadm).
    type: int
    default: 3650
  certificates:
    description: The leaf certificates, all managed in this one call.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: File name stem (C(kubernetes) gives C(kubernetes.pem) and C(kubernetes-key.pem)).
        type: str
        required: true
      ca:
        description: Name of the signing CA (one of O(cas)); default the first CA (C(ca)).
        type: str
      common_name:
        description: Subject CN, for example C(system:kube-controller-manager) or C(system:node:node1).
        type: str
        required: true
      organization:
        description: Subject O values (Kubernetes groups), for example C(system:masters).
        type: list
        elements: str
      dns_names:
        description: DNS subject alternative names.
        type: list
        elements: str
      ip_addresses:
        description: IP subject alternative names, IPv4 or IPv6.
        type: list
        elements: str
      usages:
        description:
          - C(server) sets the TLS server extended key usage, C(client) the TLS client one, C(peer) both
            (etcd peers). Default C(client).
        type: list
        elements: str
        choices: [server, client, peer]
      key_type:
        description: Key type; default O(key_type).
        type: str
        choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256]
      validity_days:
        description: Lifetime of a newly issued certificate; default O(validity_days). Must not outlive its CA.
        type: int
      renew_before_days:
        description: Reissue when the certificate expires within this many days; default O(renew_before_days).
        type: int
  key_type:
    description: Default key type of leaf certificates.
    type: str
    default: rsa2048
    choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256]
  validity_days:
    description: Default lifetime of leaf certificates, in days (1 year, as kubeadm).
    type: int
    default: 365
  renew_before_days:
    description: Default renewal threshold of leaf certificates, in days.
    type: int
    default: 30
  service_account_key:
    description:
      - Keep the service-account signing key pair (kube-apiserver C(--service-account-key-file) and
        C(--service-account-signing-key-file), kube-controller-manager C(--service-account-private-key-file)).
      - It is a key pair of its own, not a CA key. It is never replaced once it exists, since a new key
        invalidates every service-account token.
    type: bool
    default: true
  service_account_key_name:
    description: File name stem of the service-account key pair.
    type: str
    default: sa
  service_account_key_type:
    description: Key type of a new service-account key pair.
    type: str
    default: rsa2048
    choices: [rsa2048, rsa3072, rsa4096, ecdsa-p256]
  force_ca:
    description:
      - Regenerate every CA, and so reissue every certificate. Everything that trusted the old CAs
        (kubeconfigs, kubelet certificates, etcd) must be redistributed. Never needed for a routine run.
    type: bool
    default: false
  force_renew:
    description: Names of leaf certificates to reissue in this run even if they are valid.
    type: list
    elements: str
    default: []
notes:
  - The return value never contains key material; the diff lists subjects, SANs, usages, serials and dates only.
seealso:
  - module: kubebin.cluster.kubeconfig
"""

EXAMPLES = r"""
---
- name: Keep the cluster PKI on the controller
  kubebin.cluster.cert_authority:
    path: "{{ inventory_dir }}/.kubebin/pki"
    certificates:
      - name: kubernetes
        common_name: kubernetes
        usages: [server]
        dns_names: [kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.cluster.local]
        ip_addresses: [10.254.0.1, 127.0.0.1, 192.0.2.10]
      - name: admin
        common_name: admin
        organization: [system:masters]
        usages: [client]
      - name: etcd-server-etcd1
        ca: etcd-ca
        common_name: etcd1
        usages: [peer]
        ip_addresses: [192.0.2.21, 127.0.0.1]
        key_type: ecdsa-p256
  delegate_to: localhost
  run_once: true
  register: pki

- name: One CA for everything, as the seed guides do
  kubebin.cluster.cert_authority:
    path: /etc/kubernetes/pki
    shared_ca: true
    cas:
      - name: ca
        common_name: kubernetes
        organization: [k8s]
    certificates:
      - name: kube-proxy
        common_name: system:kube-proxy

- name: Reissue the apiserver certificate now
  kubebin.cluster.cert_authority:
    path: /etc/kubernetes/pki
    certificates: "{{ cluster_certificates }}"
    force_renew: [kubernetes]
"""

RETURN = r"""
path:
  description: The PKI directory.
  returned: always
  type: str
cas:
  description: Per CA name, what was done.
  returned: always
  type: dict
  sample:
    ca:
      path: /pki/ca.pem
      key_path: /pki/ca-key.pem
      changed: true
      reason: missing
      serial: 5f0c0e9d1f4c2b8a
      not_after: "2036-11-20T10:00:00Z"
certificates:
  description:
    - Per leaf name, C(path), C(key_path), C(changed), C(reason) (why it was issued, or null when kept),
      C(serial) (hex) and C(not_after) (UTC, ISO 8601). In check mode a certificate that would be issued has
      null C(serial) and C(not_after).
  returned: always
  type: dict
  sample:
    kubernetes:
      path: /pki/kubernetes.pem
      key_path: /pki/kubernetes-key.pem
      changed: true
      reason: "SANs changed (added 192.0.2.11)"
      serial: 1c3e0a4b9d2f
      not_after: "2027-11-20T10:00:00Z"
service_account:
  description: The service-account key pair (C(path) is the public key), when O(service_account_key=true).
  returned: always
  type: dict
"""

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.kubebin.cluster.plugins.module_utils import _pki

KEY_TYPES = list(_pki.KEY_TYPES)


def argument_spec() -> dict:
    """The options; their defaults are _pki.OPTION_DEFAULTS (one source for the module and plan())."""
    defaults = copy.deepcopy(_pki.OPTION_DEFAULTS)
    return dict(
        path=dict(type="path", required=True),
        shared_ca=dict(type="bool", default=defaults["shared_ca"]),
        cas=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            common_name=dict(type="str", required=True),
            organization=dict(type="list", elements="str"),
            key_type=dict(type="str", choices=KEY_TYPES),
            validity_days=dict(type="int"),
        )),
        ca_key_type=dict(type="str", default=defaults["ca_key_type"], choices=KEY_TYPES),
        ca_validity_days=dict(type="int", default=defaults["ca_validity_days"]),
        certificates=dict(type="list", elements="dict", default=defaults["certificates"], options=dict(
            name=dict(type="str", required=True),
            ca=dict(type="str"),
            common_name=dict(type="str", required=True),
            organization=dict(type="list", elements="str"),
            dns_names=dict(type="list", elements="str"),
            ip_addresses=dict(type="list", elements="str"),
            usages=dict(type="list", elements="str", choices=list(_pki.USAGES)),
            key_type=dict(type="str", choices=KEY_TYPES),
            validity_days=dict(type="int"),
            renew_before_days=dict(type="int"),
        )),
        key_type=dict(type="str", default=defaults["key_type"], choices=KEY_TYPES),
        validity_days=dict(type="int", default=defaults["validity_days"]),
        renew_before_days=dict(type="int", default=defaults["renew_before_days"]),
        service_account_key=dict(type="bool", default=defaults["service_account_key"]),
        service_account_key_name=dict(type="str", default=defaults["service_account_key_name"]),
        service_account_key_type=dict(type="str", default=defaults["service_account_key_type"], choices=KEY_TYPES),
        force_ca=dict(type="bool", default=defaults["force_ca"]),
        force_renew=dict(type="list", elements="str", default=defaults["force_renew"]),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not _pki.HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=_pki.CRYPTOGRAPHY_IMPORT_ERROR)
    try:
        plan = _pki.plan(module.params)
        result = _pki.apply(plan, module.check_mode)
    except _pki.PKIError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except OSError as exc:
        module.fail_json(msg=f"I/O error: {exc}", exception=traceback.format_exc())
    diff = result.pop("diff")
    if module._diff and result["changed"]:
        result["diff"] = diff
    for warning in plan.warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
