"""sha256 digests and the checksum files of the mirror (sha256sum format)."""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256sums(entries: list[tuple[str, str]]) -> str:
    """`sha256sum` output (`sha256sum -c` input): one "<digest>  <name>" line an entry."""
    return "".join(f"{digest}  {name}\n" for digest, name in entries)


def checksum_file_text(files: list[Path], with_names: bool = True) -> str:
    """An upstream checksum file: sha256sum lines of files, or the bare digest of the
    first file (dl.k8s.io's and cri-tools' <file>.sha256)."""
    if with_names:
        return sha256sums([(sha256_file(f), f.name) for f in files])
    return sha256_file(files[0]) + "\n"


def wheel_record_digest(record: str, member: str) -> str | None:
    """The sha256 a wheel's RECORD lists for member (urlsafe base64, unpadded), or None."""
    want = None
    for line in record.splitlines():
        parts = line.split(",")
        if parts[0] == member and len(parts) > 1 and parts[1].startswith("sha256="):
            want = parts[1][7:]
    return want


def record_digest(data: bytes) -> str:
    """data's sha256 as a wheel's RECORD writes it."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
