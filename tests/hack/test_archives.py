from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

from kubebin_lab import archives


def _members(path):
    with tarfile.open(path) as tar:
        return [(m.name, m.type, m.mode, m.mtime, m.uid, m.gid) for m in tar.getmembers()]


def test_make_tgz_is_reproducible(tmp_path):
    (tmp_path / "etcd").write_bytes(b"binary")
    entries = [("etcd-v1/", None, 0o755), ("etcd-v1/etcd", tmp_path / "etcd", 0o755)]
    archives.make_tgz(tmp_path / "a.tgz", entries)
    os.utime(tmp_path / "etcd", (0, 0))  # another mtime on disk changes nothing
    archives.make_tgz(tmp_path / "b.tgz", entries)
    assert (tmp_path / "a.tgz").read_bytes() == (tmp_path / "b.tgz").read_bytes()
    assert (tmp_path / "a.tgz").read_bytes()[4:8] == bytes(4)  # gzip header MTIME: none
    assert _members(tmp_path / "a.tgz") == [
        ("etcd-v1", tarfile.DIRTYPE, 0o755, archives.EPOCH, 0, 0),
        ("etcd-v1/etcd", tarfile.REGTYPE, 0o755, archives.EPOCH, 0, 0),
    ]


def test_layer_adds_parents_once_and_keeps_xattrs(tmp_path):
    layer = archives.Layer(tmp_path / "l.tar")
    layer.dir("tmp", 0o1777)
    layer.file("opt/bin/flanneld", b"x", 0o755, xattrs={"security.capability": b"\x01\x00\x00\x02\xff"})
    layer.file("opt/bin/other", b"y")
    layer.symlink("bin/sh", "busybox")
    layer.close()
    with tarfile.open(tmp_path / "l.tar") as tar:
        names = tar.getnames()
        assert names == ["tmp", "opt", "opt/bin", "opt/bin/flanneld", "opt/bin/other", "bin", "bin/sh"]
        flanneld = tar.getmember("opt/bin/flanneld")
        raw = flanneld.pax_headers["SCHILY.xattr.security.capability"]
        assert raw.encode("utf-8", "surrogateescape") == b"\x01\x00\x00\x02\xff"
        assert tar.getmember("tmp").mode == 0o1777
        assert tar.getmember("bin/sh").linkname == "busybox"


def test_layer_tree_keeps_hard_links_and_skips_contents(tmp_path):
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "proc/junk").write_text("x")
    (root / "usr/bin/a").write_text("a")
    os.link(root / "usr/bin/a", root / "usr/bin/b")
    layer = archives.Layer(tmp_path / "l.tar")
    layer.tree(root, skip_contents=("proc",))
    layer.close()
    with tarfile.open(tmp_path / "l.tar") as tar:
        assert "proc" in tar.getnames() and "proc/junk" not in tar.getnames()
        assert tar.getmember("usr/bin/b").islnk() and tar.getmember("usr/bin/b").linkname == "usr/bin/a"
        assert {m.mtime for m in tar.getmembers()} == {archives.EPOCH}


def _blob(tar, digest):
    return tar.extractfile(f"blobs/sha256/{digest.split(':')[1]}").read()


def test_oci_archive_layout_and_reproducibility(tmp_path):
    layer = archives.Layer(tmp_path / "layer.tar")
    layer.file("pause", b"\x7fELF", 0o755)
    layer.close()
    config = archives.image_config(entrypoint=["/pause"], user="65535:65535", ports=["53/udp"])
    ref = "registry.k8s.io/pause:3.10.2"
    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    digest = archives.write_oci_archive(tmp_path / "a.tar", ref, [tmp_path / "layer.tar"], config, tmp_path / "w1")
    again = archives.write_oci_archive(tmp_path / "b.tar", ref, [tmp_path / "layer.tar"], config, tmp_path / "w2")
    assert digest == again and (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(tar.extractfile("index.json").read())
        (desc,) = index["manifests"]
        assert desc["digest"] == digest
        assert desc["annotations"] == {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref}
        manifest_bytes = _blob(tar, digest)
        assert "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == digest
        manifest = json.loads(manifest_bytes)
        cfg = json.loads(_blob(tar, manifest["config"]["digest"]))
        assert cfg["config"] == {"Entrypoint": ["/pause"], "User": "65535:65535", "ExposedPorts": {"53/udp": {}},
                                 "WorkingDir": "/", "Env": [archives.image_config()["Env"][0]]}
        (layer_desc,) = manifest["layers"]
        gz = _blob(tar, layer_desc["digest"])
        assert len(gz) == layer_desc["size"]
        unpacked = gzip.decompress(gz)
        assert cfg["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(unpacked).hexdigest()]
        with tarfile.open(fileobj=io.BytesIO(unpacked)) as inner:
            assert inner.extractfile("pause").read() == b"\x7fELF"
