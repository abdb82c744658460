# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the policy that decides which kubelet CSRs ``csr_approve`` approves.

``evaluate()`` is pure: it takes a CSR as the API returns it (a dict) and the
expected nodes, and returns a Decision. ``run()`` drives a service object (see
``_k8s_client.CSRService``) and is unit-tested with a fake one.
"""

from __future__ import annotations

import base64
import ipaddress
import time
import typing as t

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

SIGNER_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
SIGNER_SERVING = "kubernetes.io/kubelet-serving"
KIND_OF_SIGNER = {SIGNER_CLIENT: "client", SIGNER_SERVING: "serving"}
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
BOOTSTRAP_PREFIX = "system:bootstrap:"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
SERVING_USAGES = ({"digital signature", "server auth"}, {"digital signature", "key encipherment", "server auth"})
CLIENT_USAGES_ALLOWED = {"digital signature", "key encipherment", "client auth"}
APPROVE_REASON = "KubebinPolicyApproved"
DENY_REASON = "KubebinPolicyDenied"


class PolicyError(Exception):
    """A user-facing error (bad option or a wait that timed out)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Node(t.NamedTuple):
    name: str
    addresses: frozenset  # normalised IP strings


class Decision(t.NamedTuple):
    action: str  # 'approve', 'reject' or 'ignore'
    reason: str
    node: str | None
    kind: str | None  # 'client' or 'serving'


class Request(t.NamedTuple):
    common_name: str
    organizations: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    other_sans: tuple[str, ...]


def parse_nodes(raw: list[dict]) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for i, item in enumerate(raw or []):
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"nodes[{i}].name", "must be a non-empty string")
        addresses = set()
        for j, address in enumerate(item.get("addresses") or []):
            try:
                addresses.add(str(ipaddress.ip_address(str(address))))
            except ValueError:
                raise PolicyError(f"nodes[{i}].addresses[{j}]", f"{address!r} is not an IP address") from None
        if name in nodes:
            raise PolicyError(f"nodes[{i}].name", f"duplicate node {name!r}")
        nodes[name] = Node(name, frozenset(addresses))
    return nodes


def parse_request(request_b64: str) -> Request:
    """Decode ``spec.request`` (base64 of a PEM CSR); ValueError when it is not one."""
    pem = base64.b64decode(request_b64)
    csr = x509.load_pem_x509_csr(pem)
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    dns: list[str] = []
    ips: list[str] = []
    other: list[str] = []
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = []
    for san in sans:
        if isinstance(san, x509.DNSName):
            dns.append(san.value)
        elif isinstance(san, x509.IPAddress):
            ips.append(str(san.value))
        else:
            other.append(f"{type(san).__name__}:{san.value}")
    return Request(str(cns[0].value) if len(cns) == 1 else "", tuple(sorted(str(o.value) for o in orgs)),
                   tuple(dns), tuple(ips), tuple(other))


def conditions_of(csr: dict) -> set[str]:
    return {c.get("type") for c in ((csr.get("status") or {}).get("conditions") or [])
            if c.get("status", "True") == "True"}


def evaluate(csr: dict, nodes: dict[str, Node], max_expiration_seconds: int) -> Decision:
    """Decide on one CSR. Only Pending kubelet CSRs can be approved."""
    spec = csr.get("spec") or {}
    signer = spec.get("signerName")
    kind = KIND_OF_SIGNER.get(signer)
    if kind is None:
        return Decision("ignore", f"signer {signer} is not a kubelet signer", None, None)
    done = conditions_of(csr) & {"Approved", "Denied", "Failed"}
    try:
        request = parse_request(spec.get("request") or "")
    except (ValueError, TypeError):
        if done:
            return Decision("ignore", f"already {sorted(done)[0].lower()}", None, kind)
        return Decision("reject", "the request is not a PEM certificate request", None, kind)
    node = request.common_name[len(NODE_PREFIX):] if request.common_name.startswith(NODE_PREFIX) else None
    if done:
        return Decision("ignore", f"already {sorted(done)[0].lower()}", node, kind)

    def reject(reason: str) -> Decision:
        return Decision("reject", reason, node, kind)

    if node is None or not node:
        return reject(f"CN {request.common_name!r} is not system:node:<name>")
    if request.organizations != (NODES_GROUP,):
        return reject(f"O {list(request.organizations)} is not ['{NODES_GROUP}']")
    if node not in nodes:
        return reject(f"node {node!r} is not one of the expected nodes")
    expiration = spec.get("expirationSeconds")
    if expiration is not None and int(expiration) > max_expiration_seconds:
        return reject(f"requested lifetime {expiration}s exceeds {max_expiration_seconds}s")
    username = spec.get("username") or ""
    groups = set(spec.get("groups") or [])
    usages = set(spec.get("usages") or [])
    if request.other_sans:
        return reject(f"unexpected SANs {list(request.other_sans)}")

    if kind == "serving":
        if username != request.common_name:
            return reject(f"CN {request.common_name!r} differs from the requesting user {username!r}")
        if NODES_GROUP not in groups:
            return reject(f"the requesting user is not in {NODES_GROUP}")
        if usages not in SERVING_USAGES:
            return reject(f"usages {sorted(usages)} are not a kubelet serving certificate's")
        if not request.dns_names and not request.ip_addresses:
            return reject("no subject alternative names")
        allowed = nodes[node].addresses
        for ip in request.ip_addresses:
            if ip not in allowed:
                return reject(f"IP SAN {ip} is not an address of node {node!r} (known: {', '.join(sorted(allowed)) or 'none'})")
        for dns in request.dns_names:
            if dns != node and not dns.startswith(node + "."):
                return reject(f"DNS SAN {dns!r} is not the node name {node!r} or prefixed by '{node}.'")
        return Decision("approve", "kubelet serving certificate matches its node", node, kind)

    # client certificate of a kubelet: first from a bootstrap token, then renewals by the node itself
    if request.dns_names or request.ip_addresses:
        return reject("a kubelet client certificate has no subject alternative names")
    if "client auth" not in usages or not usages <= CLIENT_USAGES_ALLOWED:
        return reject(f"usages {sorted(usages)} are not a kubelet client certificate's")
    if username.startswith(BOOTSTRAP_PREFIX):
        if BOOTSTRAPPERS_GROUP not in groups:
            return reject(f"bootstrap user {username!r} is not in {BOOTSTRAPPERS_GROUP}")
        return Decision("approve", "kubelet client certificate requested with a bootstrap token", node, kind)
    if username != request.common_name:
        return reject(f"CN {request.common_name!r} differs from the requesting user {username!r}")
    return Decision("approve", "kubelet client certificate renewal by its node", node, kind)


def _entry(csr: dict, decision: Decision) -> dict:
    meta = csr.get("metadata") or {}
    spec = csr.get("spec") or {}
    return {"name": meta.get("name"), "node": decision.node, "kind": decision.kind,
            "signer": spec.get("signerName"), "username": spec.get("username"), "reason": decision.reason}


def run(service, nodes: dict[str, Node], *, wait_for: t.Sequence[str] = (), wait_kinds: t.Sequence[str] = ("client", "serving"),
        timeout: float = 300, interval: float = 2, deny: bool = False, check_mode: bool = False,
        max_expiration_seconds: int = 31536000, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Approve what passes, reject (and optionally deny) what does not; wait when asked."""
    unknown = [n for n in wait_for if n not in nodes]
    if unknown:
        raise PolicyError("wait_for", f"{', '.join(unknown)} not among the nodes given in 'nodes'")
    approved: list[dict] = []
    rejected: list[dict] = []
    ignored: dict[str, dict] = {}
    seen: set[str] = set()
    satisfied: set[tuple[str, str]] = set()
    deadline = clock() + timeout
    while True:
        for csr in service.list():
            name = (csr.get("metadata") or {}).get("name")
            decision = evaluate(csr, nodes, max_expiration_seconds)
            if decision.action == "ignore" and decision.reason == "already approved" and decision.node:
                satisfied.add((decision.node, decision.kind))
            if name in seen:
                continue
            if decision.action == "approve":
                seen.add(name)
                if not check_mode:
                    service.set_condition(name, "Approved", APPROVE_REASON, decision.reason)
                approved.append(_entry(csr, decision))
                satisfied.add((decision.node, decision.kind))
            elif decision.action == "reject":
                seen.add(name)
                entry = _entry(csr, decision)
                entry["denied"] = bool(deny)
                if deny and not check_mode:
                    service.set_condition(name, "Denied", DENY_REASON, decision.reason)
                rejected.append(entry)
            else:
                ignored[name] = _entry(csr, decision)
        missing = [f"{n}/{k}" for n in wait_for for k in wait_kinds if (n, k) not in satisfied]
        if not missing or check_mode:
            break
        if clock() >= deadline:
            raise PolicyError("wait_for", f"timed out after {timeout:.0f}s waiting for approvable CSRs: "
                                          f"{', '.join(missing)}; rejected meanwhile: "
                                          f"{[(r['name'], r['reason']) for r in rejected] or 'none'}")
        sleep(interval)
    for name in seen:
        ignored.pop(name, None)
    changed = bool(approved) or any(r["denied"] for r in rejected)
    return {"changed": changed, "approved": approved, "rejected": rejected,
            "ignored": sorted(ignored.values(), key=lambda e: e["name"] or ""),
            "waited_for": [f"{n}/{k}" for n in wait_for for k in wait_kinds]}
