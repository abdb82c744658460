# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the kubelet CSR policy and its runner, with a fake CSR service."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubebin.cluster.plugins.module_utils import _csr_policy as policy

KEY = ec.generate_private_key(ec.SECP256R1())
NODES = policy.parse_nodes([
    {"name": "node1", "addresses": ["192.0.2.31", "2001:db8::31"], "dns_names": ["node1.corp.example", "host1"]},
    {"name": "node2", "addresses": ["192.0.2.32"], "dns_names": ["node2.corp.example"]},
], dns_domains=["k8s.example"])


def request(cn="system:node:node1", orgs=("system:nodes",), dns=(), ips=(), emails=()):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.RFC822Name(e) for e in emails]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    pem = builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode()


def serving(name="csr-s1", node="node1", username=None, groups=("system:nodes", "system:authenticated"),
            usages=("digital signature", "server auth"), conditions=(), expiration=None, **req):
    req.setdefault("cn", f"system:node:{node}")
    req.setdefault("dns", (node,))
    req.setdefault("ips", ("192.0.2.31",) if node == "node1" else ("192.0.2.32",))
    spec = {"signerName": policy.SIGNER_SERVING, "request": request(**req),
            "username": username or req["cn"], "groups": list(groups), "usages": list(usages)}
    if expiration is not None:
        spec["expirationSeconds"] = expiration
    return {"metadata": {"name": name}, "spec": spec,
            "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


def client(name="csr-c1", node="node1", username="system:bootstrap:abcdef",
           groups=("system:bootstrappers", "system:authenticated"),
           usages=("digital signature", "client auth"), conditions=(), **req):
    req.setdefault("cn", f"system:node:{node}")
    return {"metadata": {"name": name},
            "spec": {"signerName": policy.SIGNER_CLIENT, "request": request(**req), "username": username,
                     "groups": list(groups), "usages": list(usages)},
            "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


def decide(csr):
    return policy.evaluate(csr, NODES, 31536000)


# ----------------------------------------------------------------- evaluate


def test_good_serving_and_client_csrs_are_approved():
    assert decide(serving()).action == "approve"
    assert decide(serving(ips=("192.0.2.31", "2001:db8::31"), dns=("node1", "node1.k8s.example"))).action == "approve"
    assert decide(serving(usages=("digital signature", "key encipherment", "server auth"))).action == "approve"
    assert decide(client()).action == "approve"
    renewal = client(username="system:node:node1", groups=("system:nodes",))
    assert decide(renewal).action == "approve"
    assert decide(renewal).reason == "kubelet client certificate renewal by its node"


@pytest.mark.parametrize("csr,reason", [
    (serving(ips=("203.0.113.9",)), "IP SAN 203.0.113.9 is not an address of node 'node1'"),
    (serving(ips=("192.0.2.32",)), "IP SAN 192.0.2.32 is not an address of node 'node1'"),
    (serving(dns=("evil.example.org",)), "DNS SAN 'evil.example.org' is not a name of node 'node1'"),
    (serving(dns=("node1evil.org",)), "DNS SAN 'node1evil.org'"),
    (serving(username="system:node:node2"), "differs from the requesting user 'system:node:node2'"),
    (serving(orgs=("system:masters",)), "is not ['system:nodes']"),
    (serving(orgs=("system:nodes", "system:masters")), "is not ['system:nodes']"),
    (serving(usages=("digital signature", "server auth", "client auth")), "usages"),
    (serving(node="node9", ips=("192.0.2.31",)), "node 'node9' is not one of the expected nodes"),
    (serving(expiration=10 * 31536000), "requested lifetime"),
    (serving(emails=("a@example.org",)), "unexpected SANs"),
    (serving(cn="admin", username="admin"), "is not system:node:<name>"),
    (serving(groups=("system:authenticated",)), "not in system:nodes"),
    (serving(dns=(), ips=()), "no subject alternative names"),
    (client(ips=("192.0.2.31",)), "has no subject alternative names"),
    (client(usages=("digital signature", "server auth")), "usages"),
    (client(username="system:node:node2", groups=("system:nodes",)), "differs from the requesting user"),
    (client(groups=("system:authenticated",)), "is not in system:bootstrappers"),
])
def test_policy_rejects_with_reason(csr, reason):
    decision = decide(csr)
    assert decision.action == "reject"
    assert reason in decision.reason


def test_ignored_csrs():
    assert decide(serving(conditions=("Approved",))).reason == "already approved"
    assert decide(serving(conditions=("Denied",))).reason == "already denied"
    other = client()
    other["spec"]["signerName"] = "kubernetes.io/kube-apiserver-client"
    assert decide(other).action == "ignore"


def test_garbage_request_is_rejected():
    csr = serving()
    csr["spec"]["request"] = base64.b64encode(b"not a csr").decode()
    assert decide(csr).reason == "the request is not a PEM certificate request"


# ------------------------------------------------------- serving DNS names


@pytest.mark.parametrize("dns", [
    ("node1",),
    ("NODE1",),  # DNS names compare case-insensitively
    ("node1", "node1.corp.example", "host1"),  # the names given for it in dns_names
    ("node1.k8s.example",),  # <node>.<listed domain>
    ("Node1.K8s.Example",),
])
def test_serving_dns_names_the_node_has_are_approved(dns):
    assert decide(serving(dns=dns)).action == "approve"


def test_serving_certificate_with_ip_sans_only_is_approved():
    assert decide(serving(dns=())).action == "approve"


@pytest.mark.parametrize("dns,reason", [
    # a name under a domain nobody declared
    (("node1.example.org",), "DNS SAN 'node1.example.org' is not a name of node 'node1'"),
    # the prefix trick: starts with '<node>.' but is not <node>.<listed domain>
    (("node1.evil.example",), "DNS SAN 'node1.evil.example' is not a name of node 'node1'"),
    (("node1.k8s.example.evil.example",), "is not a name of node 'node1'"),
    (("node1.evil.k8s.example",), "DNS SAN 'node1.evil.k8s.example' is not a name of node 'node1'"),
    (("x.node1.k8s.example",), "is not a name of node 'node1'"),
    (("node1.",), "DNS SAN 'node1.' is not a name of node 'node1'"),  # a trailing dot is another name
    (("node1.corp.example.evil",), "is not a name of node 'node1'"),
    # a different node's names
    (("node2",), "DNS SAN 'node2' is a name of node 'node2', not of node 'node1'"),
    (("node1", "node2.k8s.example"), "DNS SAN 'node2.k8s.example' is a name of node 'node2'"),
    (("node2.corp.example",), "is a name of node 'node2'"),
    # wildcards, whatever they would match
    (("*.k8s.example",), "DNS SAN '*.k8s.example' is a wildcard"),
    (("*.node1.k8s.example",), "is a wildcard"),
    (("*",), "is a wildcard"),
    # names that are never a node's
    (("localhost",), "DNS SAN 'localhost' is a localhost name"),
    (("kubernetes",), "DNS SAN 'kubernetes' is a Kubernetes API or Service name"),
    (("kubernetes.default.svc.cluster.local",), "is a Kubernetes API or Service name"),
    (("web.default.svc",), "is a Kubernetes API or Service name"),
    (("web.default.svc.cluster.local",), "is a Kubernetes API or Service name"),
    # the reason lists what is allowed
    (("other",), "(allowed: host1, node1, node1.corp.example, node1.k8s.example)"),
])
def test_serving_dns_names_the_node_does_not_have_are_refused(dns, reason):
    decision = decide(serving(dns=dns))
    assert decision.action == "reject"
    assert reason in decision.reason


@pytest.mark.parametrize("ips,reason", [
    (("192.0.2.32",), "IP SAN 192.0.2.32 is not an address of node 'node1'"),  # node2's
    (("192.0.2.31", "198.51.100.1"), "IP SAN 198.51.100.1 is not an address of node 'node1'"),
    (("127.0.0.1",), "IP SAN 127.0.0.1 is not an address"),
    (("2001:db8::32",), "IP SAN 2001:db8::32 is not an address"),
])
def test_serving_ip_not_the_nodes_is_refused(ips, reason):
    decision = decide(serving(dns=("node1",), ips=ips))
    assert decision.action == "reject"
    assert reason in decision.reason


def test_without_dns_names_or_domains_only_the_node_name_is_allowed():
    nodes = policy.parse_nodes([{"name": "node1", "addresses": ["192.0.2.31"]}])
    assert nodes["node1"].dns_names == frozenset({"node1"})
    assert policy.evaluate(serving(dns=("node1",)), nodes, 31536000).action == "approve"
    for name in ("node1.k8s.example", "node1.corp.example", "node1.cluster.local"):
        assert policy.evaluate(serving(dns=(name,)), nodes, 31536000).action == "reject"
    # a Node built by hand (no dns_names) still allows its node name
    bare = {"node1": policy.Node("node1", frozenset({"192.0.2.31"}))}
    assert policy.evaluate(serving(dns=("node1",)), bare, 31536000).action == "approve"


def test_domain_rule_for_dotted_node_names():
    nodes = policy.parse_nodes([{"name": "node1.corp.example", "addresses": ["192.0.2.31"]}],
                               dns_domains=["k8s.example"])
    assert nodes["node1.corp.example"].dns_names == frozenset(
        {"node1.corp.example", "node1.corp.example.k8s.example", "node1.k8s.example"})


def test_a_name_two_nodes_would_have_is_allowed_for_neither():
    nodes = policy.parse_nodes([
        {"name": "node1", "addresses": ["192.0.2.31"], "dns_names": ["shared.corp.example", "node2", "localhost"]},
        {"name": "node2", "addresses": ["192.0.2.32"], "dns_names": ["shared.corp.example"]},
        {"name": "a.x", "addresses": ["192.0.2.33"]},
        {"name": "a.y", "addresses": ["192.0.2.34"]},
    ], dns_domains=["k8s.example"])
    assert nodes["node1"].dns_names == frozenset({"node1", "node1.k8s.example"})
    assert nodes["node2"].dns_names == frozenset({"node2", "node2.k8s.example"})  # its node name stays its own
    assert "a.k8s.example" in nodes["a.x"].withheld and "a.k8s.example" not in nodes["a.x"].dns_names
    csr = serving(dns=("shared.corp.example",))
    assert "would be a name of several nodes" in policy.evaluate(csr, nodes, 31536000).reason
    csr = serving(dns=("node2",))
    assert "is a name of node 'node2'" in policy.evaluate(csr, nodes, 31536000).reason


def test_facts_that_name_the_cluster_api_are_never_allowed():
    nodes = policy.parse_nodes([{"name": "node1", "addresses": ["192.0.2.31"],
                                 "dns_names": ["kubernetes.default.svc", "localhost.localdomain"]}])
    assert nodes["node1"].dns_names == frozenset({"node1"})
    assert "Kubernetes API" in policy.evaluate(serving(dns=("kubernetes.default.svc",)), nodes, 31536000).reason
    assert "localhost" in policy.evaluate(serving(dns=("localhost.localdomain",)), nodes, 31536000).reason


@pytest.mark.parametrize("domain,message", [
    (".example.com", "no leading dot; write 'example.com'"),
    ("*.example.com", "wildcards are not allowed; list the domain itself"),
    ("example.com.", "no trailing dot; write 'example.com'"),
    ("exa mple.com", "is not a valid domain"),
    ("under_score.example", "is not a valid domain"),
    ("", "must be a non-empty string"),
    (None, "must be a non-empty string"),
    ("192.0.2.1", "is an IP address"),
    ("localhost", "localhost names are never approved"),
    ("default.svc.cluster.local", "names under it are Kubernetes API or Service names"),
    ("default.pod.cluster.local", "names under it are Kubernetes API or Service names"),
    ("kubernetes.default", "names under it are Kubernetes API or Service names"),
    ("a" * 64 + ".example", "is not a valid domain"),
])
def test_bad_dns_domains_are_errors(domain, message):
    with pytest.raises(policy.PolicyError, match=r"^dns_domains\[1\]: ") as info:
        policy.parse_nodes([{"name": "node1"}], dns_domains=["ok.example", domain])
    assert message in str(info.value)
    assert info.value.field == "dns_domains[1]"


def test_dns_domains_must_be_a_list():
    with pytest.raises(policy.PolicyError, match="dns_domains: must be a list"):
        policy.parse_nodes([{"name": "node1"}], dns_domains="example.com")


@pytest.mark.parametrize("name,message", [
    ("*.corp.example", "wildcards are not allowed"),
    (".corp.example", "no leading dot"),
    ("192.0.2.31", "is an IP address, not a DNS name; put it in addresses"),
    ("bad_name", "is not a valid DNS name"),
    (7, "must be a non-empty string"),
])
def test_bad_dns_names_are_errors(name, message):
    with pytest.raises(policy.PolicyError, match=r"^nodes\[0\]\.dns_names\[1\]: ") as info:
        policy.parse_nodes([{"name": "node1", "dns_names": ["ok.example", name]}])
    assert message in str(info.value)


def test_bad_nodes_option():
    with pytest.raises(policy.PolicyError, match=r"nodes\[0\].addresses\[0\]"):
        policy.parse_nodes([{"name": "n", "addresses": ["not-an-ip"]}])
    with pytest.raises(policy.PolicyError, match="duplicate"):
        policy.parse_nodes([{"name": "n"}, {"name": "n"}])


# -------------------------------------------------------------------- runner


class FakeService:
    """Stands in for _k8s_client.CSRService; CSRs can appear over time."""

    def __init__(self, batches):
        self.batches = list(batches)
        self.csrs = []
        self.conditions = []

    def list(self):
        if self.batches:
            self.csrs += self.batches.pop(0)
        return self.csrs

    def set_condition(self, name, condition, reason, message):
        self.conditions.append((name, condition))
        for csr in self.csrs:
            if csr["metadata"]["name"] == name:
                csr["status"]["conditions"].append({"type": condition, "status": "True"})


def test_run_approves_good_reports_bad_and_is_idempotent():
    bad = serving(name="forged", ips=("203.0.113.9",))
    service = FakeService([[serving(), client(), bad, serving(name="done", conditions=("Approved",))]])
    result = policy.run(service, NODES)
    assert result["changed"]
    assert [a["name"] for a in result["approved"]] == ["csr-s1", "csr-c1"]
    assert [r["name"] for r in result["rejected"]] == ["forged"]
    assert not result["rejected"][0]["denied"]
    assert service.conditions == [("csr-s1", "Approved"), ("csr-c1", "Approved")]
    again = policy.run(service, NODES)
    assert not again["changed"] and not again["approved"]
    assert [r["name"] for r in again["rejected"]] == ["forged"]  # still pending, still reported


def test_run_check_mode_changes_nothing():
    service = FakeService([[serving(), serving(name="forged", dns=("x",))]])
    result = policy.run(service, NODES, check_mode=True, deny=True, wait_for=["node1"])
    assert result["changed"] and [a["name"] for a in result["approved"]] == ["csr-s1"]
    assert service.conditions == []


def test_run_deny():
    service = FakeService([[serving(name="forged", dns=("x",))]])
    result = policy.run(service, NODES, deny=True)
    assert result["changed"] and result["rejected"][0]["denied"]
    assert service.conditions == [("forged", "Denied")]


def test_run_waits_until_both_csrs_appear():
    clock = iter(range(1000)).__next__
    service = FakeService([[], [client(node="node2", cn="system:node:node2")], [],
                           [serving(node="node2", name="s2")]])
    result = policy.run(service, NODES, wait_for=["node2"], sleep=lambda s: None, clock=clock, timeout=100)
    assert sorted(a["name"] for a in result["approved"]) == ["csr-c1", "s2"]


def test_run_counts_csrs_approved_earlier_for_waiting():
    service = FakeService([[client(conditions=("Approved",)), serving()]])
    result = policy.run(service, NODES, wait_for=["node1"], sleep=lambda s: None)
    assert [a["name"] for a in result["approved"]] == ["csr-s1"]


def test_run_times_out_naming_what_is_missing():
    clock = iter(range(0, 10000, 10)).__next__
    service = FakeService([[client(), serving(name="forged", ips=("203.0.113.9",))]])
    with pytest.raises(policy.PolicyError, match=r"node1/serving.*forged"):
        policy.run(service, NODES, wait_for=["node1"], timeout=30, sleep=lambda s: None, clock=clock)


def test_run_wait_for_unknown_node():
    with pytest.raises(policy.PolicyError, match="not among the nodes"):
        policy.run(FakeService([]), NODES, wait_for=["ghost"])
