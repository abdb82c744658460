"""Reproducible archives: .tar.gz release tarballs, OCI image layers and OCI image-layout
archives (what `podman save --format oci-archive` writes), without podman or a registry.

Every entry has a fixed mtime and root ownership, gzip carries no timestamp: the same
inputs give the same bytes, hence the same sha256.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

from .checksums import sha256_file

ARCH = "amd64"
# Fixed timestamp for every tar/gzip/OCI entry so that archives are reproducible.
EPOCH = 315532800  # 1980-01-01T00:00:00Z
OCI_CREATED = "1980-01-01T00:00:00Z"


def tarinfo(name: str, mode: int, type_=tarfile.REGTYPE, size: int = 0, uid: int = 0,
             gid: int = 0) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.size = size
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = "root" if uid == 0 else ""
    ti.mtime = EPOCH
    return ti


def make_tgz(out: Path, entries: list[tuple[str, Path | None, int]]) -> None:
    """Reproducible .tar.gz: entries are (name in archive, source file or None=dir, mode)."""
    with open(out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               mtime=0, compresslevel=9) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, src, mode in entries:
                if src is None:
                    tar.addfile(tarinfo(name, mode, tarfile.DIRTYPE))
                else:
                    with open(src, "rb") as fh:
                        tar.addfile(tarinfo(name, mode, size=src.stat().st_size), fh)


class Layer:
    """Builds one uncompressed layer tar, entries kept in insertion order."""

    def __init__(self, path: Path):
        self.path = path
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.dirs: set[str] = set()

    def _parents(self, name: str) -> None:
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.dir("/".join(parts[:i]))

    def dir(self, name: str, mode: int = 0o755) -> None:
        name = name.strip("/")
        if name in self.dirs:
            return
        self._parents(name)
        self.dirs.add(name)
        self.tar.addfile(tarinfo(name + "/", mode, tarfile.DIRTYPE))

    def file(self, name: str, data: bytes | Path, mode: int = 0o644, uid: int = 0,
             gid: int = 0, xattrs: dict[str, bytes] | None = None) -> None:
        name = name.strip("/")
        self._parents(name)
        if isinstance(data, Path):
            data = data.read_bytes()
        ti = tarinfo(name, mode, size=len(data), uid=uid, gid=gid)
        if xattrs:
            # binary xattr values go through surrogateescape, tarfile then writes
            # hdrcharset=BINARY; Go's archive/tar reads them back byte for byte.
            ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                              for k, v in xattrs.items()}
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        self._parents(name)
        ti = tarinfo(name, 0o777, tarfile.SYMTYPE)
        ti.linkname = target
        self.tar.addfile(ti)

    def tree(self, root: Path, skip_contents: tuple[str, ...] = ()) -> None:
        """Add a directory tree as root-owned entries (hard links kept)."""
        seen: dict[tuple[int, int], str] = {}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            rel_dir = "" if rel_dir == "." else rel_dir
            if rel_dir in skip_contents:
                dirnames[:] = []
                filenames = []
            for name in dirnames + sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.join(rel_dir, name) if rel_dir else name
                st = os.lstat(full)
                ti = self.tar.gettarinfo(full, arcname=rel)
                ti.mtime = EPOCH
                ti.uname = ti.gname = ""
                if ti.isreg() and st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        ti = tarinfo(rel, st.st_mode & 0o7777, tarfile.LNKTYPE,
                                      uid=st.st_uid, gid=st.st_gid)
                        ti.linkname = seen[key]
                        self.tar.addfile(ti)
                        continue
                    seen[key] = rel
                if ti.isdir():
                    self.dirs.add(rel)
                if ti.isreg():
                    with open(full, "rb") as fh:
                        self.tar.addfile(ti, fh)
                elif ti.ischr() or ti.isblk() or ti.isfifo():
                    continue  # device nodes: the runtime provides /dev
                else:
                    self.tar.addfile(ti)

    def close(self) -> None:
        self.tar.close()


def canonical_json(doc: dict) -> bytes:
    """Compact JSON with sorted keys: the same document always gives the same digest."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_oci_archive(out: Path, ref: str, layers: list[Path], config: dict,
                      workdir: Path) -> str:
    """Write an OCI image-layout tar (what `podman save --format oci-archive` writes).

    The full upstream reference goes into both `org.opencontainers.image.ref.name`
    (read by `podman load`) and `io.containerd.image.name` (read by `ctr images import`).
    Returns the manifest digest.
    """
    blobs: list[tuple[str, Path | bytes]] = []
    layer_descs, diff_ids = [], []
    for i, layer in enumerate(layers):
        diff_ids.append("sha256:" + sha256_file(layer))
        gz_path = workdir / f"layer{i}.tar.gz"
        with open(layer, "rb") as src, open(gz_path, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                              compresslevel=6) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
        digest = sha256_file(gz_path)
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                            "digest": "sha256:" + digest, "size": gz_path.stat().st_size})
        blobs.append((digest, gz_path))
    cfg = {
        "created": OCI_CREATED,
        "architecture": ARCH,
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": OCI_CREATED,
                     "created_by": "kubebin.cluster hack/lab/build.py"}] * len(layers),
    }

    def json_blob(doc: dict) -> tuple[str, bytes]:
        data = canonical_json(doc)
        digest = hashlib.sha256(data).hexdigest()
        blobs.append((digest, data))
        return digest, data

    cfg_digest, cfg_bytes = json_blob(cfg)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + cfg_digest, "size": len(cfg_bytes)},
        "layers": layer_descs,
    }
    man_digest, man_bytes = json_blob(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + man_digest, "size": len(man_bytes),
            "platform": {"architecture": ARCH, "os": "linux"},
            "annotations": {"io.containerd.image.name": ref,
                            "org.opencontainers.image.ref.name": ref},
        }],
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(name: str, data: bytes) -> None:
            tar.addfile(tarinfo(name, 0o644, size=len(data)), io.BytesIO(data))
        tar.addfile(tarinfo("blobs/", 0o755, tarfile.DIRTYPE))
        tar.addfile(tarinfo("blobs/sha256/", 0o755, tarfile.DIRTYPE))
        for digest, blob in blobs:
            name = f"blobs/sha256/{digest}"
            if isinstance(blob, Path):
                with open(blob, "rb") as fh:
                    tar.addfile(tarinfo(name, 0o644, size=blob.stat().st_size), fh)
            else:
                add_bytes(name, blob)
        add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes("index.json", canonical_json(index))
    return "sha256:" + man_digest


def image_config(entrypoint=None, cmd=None, user=None, ports=None, workdir="/",
                 env=None) -> dict:
    cfg: dict = {"Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                 "WorkingDir": workdir}
    if entrypoint:
        cfg["Entrypoint"] = entrypoint
    if cmd:
        cfg["Cmd"] = cmd
    if user:
        cfg["User"] = user
    if ports:
        cfg["ExposedPorts"] = {p: {} for p in ports}
    return cfg
