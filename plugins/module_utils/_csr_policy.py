# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the policy that decides which kubelet CSRs ``csr_approve`` approves.

``evaluate()`` is pure: it takes a CSR as the API returns it (a dict) and the
expected nodes, and returns a Decision. ``run()`` drives a service object (see
``_k8s_client.CSRService``) and is unit-tested with a fake one.

The DNS names a node's serving certificate may carry (``parse_nodes()``), exactly, with no
prefix or suffix matching:

* its node name;
* the names given for it in ``dns_names`` (the roles pass its inventory name, short host
  name and FQDN from the facts);
* for every domain D of ``dns_domains``: ``<node name>.D``, and ``<first label of the node
  name>.D`` when the node name has dots.

A name that would be allowed for two nodes is allowed for neither (a node's own node name
stays its own). Localhost names and the names of the cluster's API and Services
(``is_service_name()``) are never allowed, whatever the input; wildcards, IP addresses and
invalid names in the input are errors (``PolicyError``), as are domains with a leading dot.
"""

from __future__ import annotations

import base64
import ipaddress
import re
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


# RFC 1123 host name, lowercase: labels of letters, digits and '-', at most 63 and 253 characters.
DNS_NAME_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "localhost4", "localhost4.localdomain4",
                             "localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback"})


class Node(t.NamedTuple):
    name: str
    addresses: frozenset  # normalised IP strings
    dns_names: frozenset = frozenset()  # every DNS SAN allowed (the node name is always allowed too)
    withheld: frozenset = frozenset()  # names left out because they would be allowed for several nodes


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


def is_localhost(name: str) -> bool:
    return name in LOCALHOST_NAMES or name.endswith(".localhost")


def is_service_name(name: str) -> bool:
    """A name of the cluster's API or of its Service/Pod DNS records, whatever the cluster domain.

    ``kubernetes``, ``kubernetes.default[.svc[.<domain>]]``, ``<svc>.<ns>.svc[.<domain>]``,
    ``<host>.<svc>.<ns>.svc[.<domain>]`` and ``<ip>.<ns>.pod[.<domain>]``. Pods trust the cluster
    CA (kube-root-ca.crt), so a node must never get a certificate for one of these.
    """
    labels = name.split(".")
    if labels[0] == "kubernetes" and (len(labels) == 1 or labels[1] == "default"):
        return True
    return "svc" in labels[2:4] or labels[2:3] == ["pod"]


def check_dns_name(field: str, value: t.Any, what: str = "DNS name") -> str:
    """A lowercase RFC 1123 name, or a PolicyError naming the field and what is wrong."""
    if not isinstance(value, str) or not value:
        raise PolicyError(field, f"{value!r}: a {what} must be a non-empty string")
    name = value.lower()
    if "*" in name:
        raise PolicyError(field, f"{value!r}: wildcards are not allowed" + (
            "; list the domain itself (example.com allows <node>.example.com)" if what == "domain" else ""))
    if name.startswith("."):
        raise PolicyError(field, f"{value!r}: no leading dot; write {name.lstrip('.')!r}")
    if name.endswith("."):
        raise PolicyError(field, f"{value!r}: no trailing dot; write {name.rstrip('.')!r}")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise PolicyError(field, f"{value!r} is an IP address, not a {what}" + (
            "; put it in addresses" if what == "DNS name" else ""))
    if not DNS_NAME_RE.match(name):
        raise PolicyError(field, f"{value!r} is not a valid {what} (RFC 1123: letters, digits, '-' and '.', "
                                 "labels of at most 63 and names of at most 253 characters)")
    if what == "domain":
        if is_localhost(name) or name == "localdomain":
            raise PolicyError(field, f"{value!r}: localhost names are never approved")
        if is_service_name(name) or is_service_name("node." + name):
            raise PolicyError(field, f"{value!r}: names under it are Kubernetes API or Service names")
    return name


def parse_dns_domains(raw: t.Sequence[str] | None, field: str = "dns_domains") -> tuple[str, ...]:
    if raw is not None and not isinstance(raw, (list, tuple)):
        raise PolicyError(field, "must be a list of domain names")
    return tuple(dict.fromkeys(check_dns_name(f"{field}[{i}]", d, "domain") for i, d in enumerate(raw or ())))


def _allowed_dns_names(name: str, dns_names: t.Iterable[str], domains: t.Sequence[str]) -> set[str]:
    """Every DNS name node `name` may have, before the names shared with other nodes are removed."""
    allowed = {name.lower()} | set(dns_names)
    labels = {name.lower(), name.lower().split(".")[0]}
    allowed |= {f"{label}.{domain}" for label in labels for domain in domains}
    return {n for n in allowed if not is_localhost(n) and not is_service_name(n) and DNS_NAME_RE.match(n)}


def parse_nodes(raw: list[dict], dns_domains: t.Sequence[str] | None = None) -> dict[str, Node]:
    """The expected nodes, each with its IP addresses and the exact DNS names it may have.

    ``dns_domains`` is a list of domains D for which ``<node name>.D`` (and ``<short name>.D``) is allowed.
    """
    domains = parse_dns_domains(dns_domains)
    parsed: list[tuple[str, frozenset, set[str]]] = []
    names: set[str] = set()
    for i, item in enumerate(raw or []):
        if not isinstance(item, dict):
            raise PolicyError(f"nodes[{i}]", "must be a dictionary with name, addresses and dns_names")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise PolicyError(f"nodes[{i}].name", "must be a non-empty string")
        addresses = set()
        for j, address in enumerate(item.get("addresses") or []):
            try:
                addresses.add(str(ipaddress.ip_address(str(address))))
            except ValueError:
                raise PolicyError(f"nodes[{i}].addresses[{j}]", f"{address!r} is not an IP address") from None
        raw_names = item.get("dns_names") or []
        if not isinstance(raw_names, (list, tuple)):
            raise PolicyError(f"nodes[{i}].dns_names", "must be a list of DNS names")
        dns_names = {check_dns_name(f"nodes[{i}].dns_names[{j}]", d) for j, d in enumerate(raw_names)}
        if name in names:
            raise PolicyError(f"nodes[{i}].name", f"duplicate node {name!r}")
        names.add(name)
        parsed.append((name, frozenset(addresses), _allowed_dns_names(name, dns_names, domains)))
    claims: dict[str, int] = {}
    for _name, _addresses, allowed in parsed:
        for dns in allowed:
            claims[dns] = claims.get(dns, 0) + 1
    own = {name.lower() for name in names}
    nodes: dict[str, Node] = {}
    for name, addresses, allowed in parsed:
        shared = {d for d in allowed if d != name.lower() and (claims[d] > 1 or d in own)}
        nodes[name] = Node(name, addresses, frozenset(allowed - shared), frozenset(shared))
    return nodes


def dns_refusal(dns: str, node: Node, nodes: dict[str, Node]) -> str | None:
    """Why DNS SAN `dns` may not be in `node`'s serving certificate, or None when it may."""
    name = dns.lower()
    if "*" in name:
        return f"DNS SAN {dns!r} is a wildcard; a kubelet serving certificate names its node only"
    if is_localhost(name):
        return f"DNS SAN {dns!r} is a localhost name"
    if is_service_name(name):
        return f"DNS SAN {dns!r} is a Kubernetes API or Service name"
    allowed = node.dns_names | {node.name.lower()}
    if name in allowed:
        return None
    others = sorted(n.name for n in nodes.values() if n.name != node.name and name in (n.dns_names | {n.name.lower()}))
    if others:
        return f"DNS SAN {dns!r} is a name of node {others[0]!r}, not of node {node.name!r}"
    if name in node.withheld:
        return f"DNS SAN {dns!r} would be a name of several nodes, so of none"
    return f"DNS SAN {dns!r} is not a name of node {node.name!r} (allowed: {', '.join(sorted(allowed))})"


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
            refusal = dns_refusal(dns, nodes[node], nodes)
            if refusal:
                return reject(refusal)
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
