# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of kubebin-csr-approver (roles/master/files), with a fake API client.

The program imports ``_csr_policy`` from its own directory on the masters; here the
collection's module is put in its place, which is exactly the file the role installs.
"""

from __future__ import annotations

import base64
import importlib.util
import ipaddress
import json
import pathlib
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.kubebin.cluster.plugins.module_utils import _csr_policy

PROGRAM = pathlib.Path(__file__).resolve().parents[3] / "roles" / "master" / "files" / "kubebin-csr-approver.py"
KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture()
def approver(monkeypatch):
    monkeypatch.setitem(sys.modules, "_csr_policy", _csr_policy)
    spec = importlib.util.spec_from_file_location("kubebin_csr_approver", PROGRAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def request(cn, dns=(), ips=()):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return base64.b64encode(builder.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)).decode()


def serving(name, node, ip, username=None, conditions=(), dns=None):
    cn = f"system:node:{node}"
    return {"metadata": {"name": name, "resourceVersion": "7"},
            "spec": {"signerName": _csr_policy.SIGNER_SERVING, "request": request(cn, dns or (node,), (ip,)),
                     "username": username or cn, "groups": ["system:nodes", "system:authenticated"],
                     "usages": ["digital signature", "server auth"]},
            "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]}}


def client_csr(name, node):
    cn = f"system:node:{node}"
    return {"metadata": {"name": name},
            "spec": {"signerName": _csr_policy.SIGNER_CLIENT, "request": request(cn), "username": cn,
                     "groups": ["system:nodes"], "usages": ["digital signature", "client auth"]},
            "status": {}}


class FakeClient:
    def __init__(self, csrs, conflict=()):
        self.csrs = csrs
        self.conflict = set(conflict)
        self.approved = []

    def list(self):
        return self.csrs

    def approve(self, csr, reason, message):
        name = csr["metadata"]["name"]
        if name in self.conflict:
            raise self.error(f"PUT /x/{name}/approval: API answered 409: conflict")
        self.approved.append((name, reason, message))


@pytest.fixture()
def setup(approver, tmp_path, monkeypatch):
    config = {"server": "https://127.0.0.1:6443", "ca_file": "ca", "cert_file": "c", "key_file": "k",
              "signers": [_csr_policy.SIGNER_SERVING], "max_expiration_seconds": 31536000,
              "dns_domains": ["k8s.example"],
              "nodes": [{"name": "node1", "addresses": ["192.0.2.31"], "dns_names": ["node1.corp.example"]},
                        {"name": "node2", "addresses": ["192.0.2.32"], "dns_names": []}]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(state))

    def run(csrs, conflict=(), dry_run=False):
        fake = FakeClient(csrs, conflict)
        fake.error = approver.ApproverError
        monkeypatch.setattr(approver, "Client", lambda cfg: fake)
        rc = approver.main(["--config", str(path)] + (["--dry-run"] if dry_run else []))
        return rc, fake

    return run, state


def test_approves_a_valid_serving_csr_and_rejects_a_forged_one(setup, capsys):
    run, _calls = setup
    rc, fake = run([serving("good", "node1", "192.0.2.31"),
                    serving("forged-ip", "node1", "192.0.2.99"),
                    serving("other-user", "node2", "192.0.2.32", username="system:node:node1")])
    out = capsys.readouterr().out
    assert rc == 0
    assert [a[0] for a in fake.approved] == ["good"]
    assert fake.approved[0][1] == _csr_policy.APPROVE_REASON
    assert "approved good" in out
    assert "rejected forged-ip" in out and "IP SAN 192.0.2.99" in out
    assert "rejected other-user" in out and "differs from the requesting user" in out


def test_dns_names_and_domains_of_the_config_are_the_policy(setup, capsys):
    run, _calls = setup
    rc, fake = run([serving("own-names", "node1", "192.0.2.31", dns=("node1", "node1.corp.example", "node1.k8s.example")),
                    serving("prefix-trick", "node1", "192.0.2.31", dns=("node1.evil.example",)),
                    serving("other-domain", "node2", "192.0.2.32", dns=("node2.corp.example",)),
                    serving("other-node", "node2", "192.0.2.32", dns=("node1.k8s.example",)),
                    serving("wildcard", "node1", "192.0.2.31", dns=("*.k8s.example",))])
    out = capsys.readouterr().out
    assert rc == 0
    assert [a[0] for a in fake.approved] == ["own-names"]
    assert "rejected prefix-trick" in out and "DNS SAN 'node1.evil.example' is not a name of node 'node1'" in out
    assert "rejected other-domain" in out and "DNS SAN 'node2.corp.example' is not a name of node 'node2'" in out
    assert "rejected other-node" in out and "is a name of node 'node1', not of node 'node2'" in out
    assert "rejected wildcard" in out and "is a wildcard" in out


def test_a_config_without_dns_keys_allows_the_node_name_only(approver, tmp_path, monkeypatch, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"server": "x", "ca_file": "a", "cert_file": "b", "key_file": "c",
                                "signers": [_csr_policy.SIGNER_SERVING],
                                "nodes": [{"name": "node1", "addresses": ["192.0.2.31"]}]}))
    fake = FakeClient([serving("plain", "node1", "192.0.2.31"),
                       serving("domain", "node1", "192.0.2.31", dns=("node1.k8s.example",))])
    monkeypatch.setattr(approver, "Client", lambda cfg: fake)
    assert approver.main(["--config", str(path)]) == 0
    assert [a[0] for a in fake.approved] == ["plain"]
    assert "rejected domain" in capsys.readouterr().out


@pytest.mark.parametrize("key,value,message", [
    ("dns_domains", [".k8s.example"], "dns_domains[0]: '.k8s.example': no leading dot"),
    ("dns_domains", ["*.k8s.example"], "dns_domains[0]: '*.k8s.example': wildcards are not allowed"),
    ("dns_names", ["*.corp.example"], "nodes[0].dns_names[0]: '*.corp.example': wildcards are not allowed"),
])
def test_bad_dns_config_is_an_error_naming_the_field(approver, tmp_path, monkeypatch, capsys, key, value, message):
    node = {"name": "node1", "addresses": ["192.0.2.31"]}
    config = {"server": "x", "ca_file": "a", "cert_file": "b", "key_file": "c", "signers": [_csr_policy.SIGNER_SERVING],
              "nodes": [node]}
    if key == "dns_names":
        node["dns_names"] = value
    else:
        config[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    fake = FakeClient([serving("plain", "node1", "192.0.2.31")])
    monkeypatch.setattr(approver, "Client", lambda cfg: fake)
    assert approver.main(["--config", str(path)]) == 1
    assert fake.approved == []
    assert f"error: config {path}: {message}" in capsys.readouterr().out


def test_only_configured_signers_and_pending_csrs(setup, capsys):
    run, _calls = setup
    rc, fake = run([client_csr("client-renewal", "node1"),
                    serving("done", "node1", "192.0.2.31", conditions=("Approved",))])
    assert rc == 0
    assert fake.approved == []
    assert capsys.readouterr().out == ""


def test_a_rejection_is_logged_once(setup, capsys):
    run, state = setup
    csrs = [serving("forged", "node3", "192.0.2.33")]
    run(csrs)
    assert "rejected forged" in capsys.readouterr().out
    assert json.loads((state / "rejected.json").read_text()) == ["forged"]
    run(csrs)
    assert capsys.readouterr().out == ""


def test_conflict_is_not_a_failure_but_other_errors_are(setup, capsys):
    run, _calls = setup
    rc, _out = run([serving("raced", "node1", "192.0.2.31")], conflict=("raced",))
    assert rc == 0
    assert "not approved raced" in capsys.readouterr().out


def test_dry_run_approves_nothing(setup, capsys):
    run, _calls = setup
    rc, fake = run([serving("good", "node1", "192.0.2.31")], dry_run=True)
    assert rc == 0 and fake.approved == []
    assert "would approve good" in capsys.readouterr().out


def test_bad_config_names_the_key(approver, tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"server": "x"}))
    assert approver.main(["--config", str(path)]) == 1
    assert "missing key 'ca_file'" in capsys.readouterr().out


def test_unknown_signer_is_refused(approver, tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"server": "x", "ca_file": "a", "cert_file": "b", "key_file": "c", "nodes": [],
                                "signers": ["example.com/other"]}))
    assert approver.main(["--config", str(path)]) == 1
    assert "not kubelet signers" in capsys.readouterr().out
