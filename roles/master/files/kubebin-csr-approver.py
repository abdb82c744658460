# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubebin-csr-approver: approve kubelet CSRs after deployment, by kubebin's policy.

Installed by the kubebin.cluster.master role and run by kubebin-csr-approver.timer on every
master. One run lists the CertificateSigningRequests, decides on each with ``evaluate()``
of the collection's ``_csr_policy`` module (the very code of kubebin.cluster.csr_approve,
installed beside this script) against the nodes of its config (name, addresses, dns_names,
and the cluster-wide dns_domains), and approves those that pass, through the approval
subresource, with the approver's own client certificate. Every decision is logged to
stdout (the journal). A CSR that fails the policy is left pending and logged once.

Only the Python standard library and python3-cryptography (for ``_csr_policy``) are needed.

Usage: kubebin-csr-approver.py [--config FILE] [--dry-run]
Exit status: 0 done (even when CSRs were rejected), 1 the API or the config failed.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _csr_policy  # noqa: E402  (installed beside this script)

CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
DEFAULT_CONFIG = "/etc/kubernetes/csr-approver.json"


class ApproverError(Exception):
    """A user-facing failure (config, TLS, API)."""


def load_config(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ApproverError(f"config {path}: {exc}") from None
    for key in ("server", "ca_file", "cert_file", "key_file", "nodes", "signers"):
        if key not in config:
            raise ApproverError(f"config {path}: missing key {key!r}")
    unknown = set(config["signers"]) - set(_csr_policy.KIND_OF_SIGNER)
    if unknown:
        raise ApproverError(f"config {path}: signers {sorted(unknown)} are not kubelet signers")
    return config


class Client:
    """The few API calls the approver makes, over mutual TLS (stdlib only)."""

    def __init__(self, config: dict, timeout: float = 15.0) -> None:
        self.server = config["server"].rstrip("/")
        self.timeout = timeout
        try:
            self.context = ssl.create_default_context(cafile=config["ca_file"])
            self.context.minimum_version = ssl.TLSVersion.TLSv1_2
            self.context.load_cert_chain(config["cert_file"], config["key_file"])
        except (OSError, ssl.SSLError) as exc:
            raise ApproverError(f"TLS files: {exc}") from None

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method,
                                         headers={"Accept": "application/json", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ApproverError(f"{method} {path}: API answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ApproverError(f"{method} {path}: {exc}") from None

    def list(self) -> list[dict]:
        return self._call("GET", CSR_PATH).get("items") or []

    def approve(self, csr: dict, reason: str, message: str) -> None:
        """Add the Approved condition to the CSR as read (its resourceVersion guards against races)."""
        name = csr["metadata"]["name"]
        status = dict(csr.get("status") or {})
        status["conditions"] = list(status.get("conditions") or []) + [
            {"type": "Approved", "status": "True", "reason": reason, "message": message}]
        body = dict(csr, status=status)
        self._call("PUT", f"{CSR_PATH}/{urllib.parse.quote(name, safe='')}/approval", body)


def decide(csrs: list[dict], nodes: dict, signers: set[str], max_expiration_seconds: int) -> list[tuple[dict, object]]:
    """The CSRs this approver acts on (pending, of its signers) with their policy decision."""
    out = []
    for csr in csrs:
        if (csr.get("spec") or {}).get("signerName") not in signers:
            continue
        decision = _csr_policy.evaluate(csr, nodes, max_expiration_seconds)
        if decision.action != "ignore":
            out.append((csr, decision))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Approve kubelet CSRs that pass kubebin's policy.")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--dry-run", action="store_true", help="decide and log, approve nothing")
    args = parser.parse_args(argv)
    state_dir = os.environ.get("STATE_DIRECTORY", "")
    seen_file = os.path.join(state_dir, "rejected.json") if state_dir else ""
    try:
        config = load_config(args.config)
        nodes = _csr_policy.parse_nodes(config["nodes"], config.get("dns_domains") or [])
        client = Client(config)
        pending = decide(client.list(), nodes, set(config["signers"]),
                         int(config.get("max_expiration_seconds", 31536000)))
    except ApproverError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    except _csr_policy.PolicyError as exc:
        print(f"error: config {args.config}: {exc}", flush=True)
        return 1
    try:
        with open(seen_file, encoding="utf-8") as handle:
            logged = set(json.load(handle))
    except (OSError, ValueError):
        logged = set()
    still_rejected = set()
    approved = failed = 0
    for csr, decision in pending:
        name = csr["metadata"]["name"]
        who = f"{name} (signer {csr['spec'].get('signerName')}, user {csr['spec'].get('username')}, node {decision.node})"
        if decision.action == "approve":
            if args.dry_run:
                print(f"would approve {who}: {decision.reason}", flush=True)
                continue
            try:
                client.approve(csr, _csr_policy.APPROVE_REASON, f"{decision.reason} (kubebin-csr-approver)")
            except ApproverError as exc:
                # 409: another master approved it first, or it changed since the list.
                failed += 0 if " 409:" in str(exc) else 1
                print(f"not approved {who}: {exc}", flush=True)
                continue
            approved += 1
            print(f"approved {who}: {decision.reason}", flush=True)
        else:
            still_rejected.add(name)
            if name not in logged:
                print(f"rejected {who}, left pending: {decision.reason}", flush=True)
    if seen_file and not args.dry_run:
        try:
            with open(seen_file + ".tmp", "w", encoding="utf-8") as handle:
                json.dump(sorted(still_rejected), handle)
            os.replace(seen_file + ".tmp", seen_file)
        except OSError as exc:
            print(f"warning: cannot record rejected CSRs in {seen_file}: {exc}", flush=True)
    if approved or failed:
        print(f"summary: approved {approved}, failed {failed}, rejected pending {len(still_rejected)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
