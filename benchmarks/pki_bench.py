"""Benchmark of kubebin.cluster.cert_authority: prints figures, asserts nothing.

Issues the whole PKI of a 3-master / 3-etcd / 5-node cluster (3 CAs, the
service-account key pair, 15 leaf certificates) in one task through
ansible-playbook, then re-runs the same task (a no-op), for RSA 2048 and ECDSA
P-256 keys. Also times bare key generation in-process, since a first run is
dominated by it.

Run with `make bench` (the collection must be importable through
ANSIBLE_COLLECTIONS_PATH, which the Makefile sets).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MASTERS = [f"192.0.2.{10 + i}" for i in range(1, 4)]
ETCD = [f"192.0.2.{20 + i}" for i in range(1, 4)]


def leaves() -> list[dict]:
    out = []
    for i, ip in enumerate(ETCD, 1):
        out.append({"name": f"etcd-etcd{i}", "ca": "etcd-ca", "common_name": f"etcd{i}", "usages": ["peer"],
                    "dns_names": [f"etcd{i}", "localhost"], "ip_addresses": [ip, "127.0.0.1"]})
    out.append({"name": "etcd-healthcheck-client", "ca": "etcd-ca", "common_name": "etcd-healthcheck-client"})
    for i, ip in enumerate(MASTERS, 1):
        out.append({"name": f"apiserver-master{i}", "common_name": "kube-apiserver", "usages": ["server"],
                    "dns_names": ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                  "kubernetes.default.svc.cluster.local", f"master{i}"],
                    "ip_addresses": ["10.254.0.1", "127.0.0.1", ip]})
    out += [
        {"name": "apiserver-etcd-client", "ca": "etcd-ca", "common_name": "kube-apiserver-etcd-client"},
        {"name": "apiserver-kubelet-client", "common_name": "kube-apiserver-kubelet-client",
         "organization": ["kubebin:apiserver-kubelet-client"]},
        {"name": "front-proxy-client", "ca": "front-proxy-ca", "common_name": "front-proxy-client"},
        {"name": "admin", "common_name": "kubernetes-admin", "organization": ["kubeadm:cluster-admins"]},
        {"name": "kube-controller-manager", "common_name": "system:kube-controller-manager"},
        {"name": "kube-scheduler", "common_name": "system:kube-scheduler"},
        {"name": "kube-proxy", "common_name": "system:kube-proxy"},
    ]
    return out


def playbook(path: str, key_type: str) -> str:
    task = {
        "kubebin.cluster.cert_authority": {
            "path": path, "certificates": leaves(), "key_type": key_type,
            "ca_key_type": key_type, "service_account_key_type": key_type,
        },
        "register": "pki",
    }
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        task, {"ansible.builtin.debug": {"msg": "{{ pki.certificates | length }} leaves"}}]}]
    return json.dumps(play)  # JSON is YAML


def run_playbook(pb: str) -> float:
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", pb],
                          capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def keygen_ms(key_type: str, rounds: int) -> float:
    from ansible_collections.kubebin.cluster.plugins.module_utils import _pki
    samples = []
    for _round in range(rounds):
        start = time.perf_counter()
        _pki.generate_key(key_type)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    print(f"cluster PKI: 3 CAs + service-account key pair + {len(leaves())} leaf certificates")
    print(f"{'key type':<12}{'first run (s)':>15}{'no-op re-run (s)':>18}")
    for key_type in ("rsa2048", "ecdsa-p256"):
        with tempfile.TemporaryDirectory() as tmp:
            pb = os.path.join(tmp, "pki.yml")
            with open(pb, "w", encoding="utf-8") as handle:
                handle.write(playbook(os.path.join(tmp, "pki"), key_type))
            first = run_playbook(pb)
            again = min(run_playbook(pb) for _try in range(3))
            print(f"{key_type:<12}{first:>15.2f}{again:>18.2f}")
    base = run_empty_playbook()
    print(f"(ansible-playbook start-up with one no-op debug task: {base:.2f} s)")
    print("median key generation (ms):")
    for key_type, rounds in (("rsa2048", 15), ("rsa3072", 5), ("rsa4096", 3), ("ecdsa-p256", 50)):
        print(f"  {key_type:<12}{keygen_ms(key_type, rounds):>9.2f}")


def run_empty_playbook() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        pb = os.path.join(tmp, "empty.yml")
        with open(pb, "w", encoding="utf-8") as handle:
            handle.write(json.dumps([{"hosts": "localhost", "gather_facts": False,
                                      "tasks": [{"ansible.builtin.debug": {"msg": "x"}}]}]))
        return min(run_playbook(pb) for _try in range(3))


if __name__ == "__main__":
    main()
