# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private helpers shared by the module_utils of kubebin.cluster (not a public API).

One copy of what ``_pki``, ``_kubeconfig`` and ``_bootstrap`` all need:

* ``FieldError``: the base of their user-facing errors (``field`` names the option);
* ``read_file()``: a file's bytes, an unreadable file being an error naming the option;
* ``write_atomic()``: replace a file through a temporary file in the same directory, its
  mode and owner set before the rename, so nothing is ever half written or readable by
  others (also used by the host modules ``files`` and ``artifacts``);
* ``sha256_file()``: a file's SHA-256, read in blocks;
* ``public_der()``, ``key_matches_cert()``, ``is_issued_by()``, ``not_after()``: the
  key/certificate checks.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import os
import shutil
import tempfile
import typing as t

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
except ImportError:  # reported by the modules (HAS_CRYPTOGRAPHY of _pki and _kubeconfig)
    pass


_BLOCK = 1024 * 1024


class FieldError(Exception):
    """A user-facing error; ``field`` names the option (or the file) at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# --------------------------------------------------------------------------- files


def read_file(path: str, field: str, error: type[FieldError] = FieldError,
              missing_ok: bool = False) -> bytes | None:
    """The bytes of ``path``; None when it does not exist and ``missing_ok``.

    Any other failure (missing, a directory, no permission) raises ``error`` naming ``field``.
    """
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return None
        raise error(field, f"cannot read {path}: {exc.strerror or exc}") from None


def _keep_owner(fd: int, path: str) -> None:
    """Give the open temporary file the owner and group of the file it will replace.

    As ``AnsibleModule.atomic_move`` does: when that is not allowed (an ordinary user
    replacing someone else's file), the new file stays the writer's.
    """
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return
    try:
        os.fchown(fd, current.st_uid, current.st_gid)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise


def write_atomic(path: str, data: bytes | t.BinaryIO, mode: int | None = 0o600,
                 prepare: t.Callable[[str], t.Any] | None = None) -> None:
    """Replace ``path`` by ``data`` (bytes, or a binary stream copied in blocks) through a
    temporary file in the same directory.

    The temporary file is created ``0600``; it gets ``mode`` (when given) before any byte
    is written, then the owner and group of the file it replaces, then its content
    (flushed to disk), then ``prepare(temporary path)`` runs (e.g. a symbolic mode or an
    SELinux context set by the module), and only then is it renamed over ``path``. On any
    failure the temporary file is removed and ``path`` is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        _keep_owner(fd, path)
        with os.fdopen(fd, "wb") as handle:
            if isinstance(data, (bytes, bytearray)):
                handle.write(data)
            else:
                shutil.copyfileobj(data, handle, _BLOCK)
            handle.flush()
            os.fsync(handle.fileno())
        if prepare is not None:
            prepare(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256_file(path: str) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- keys and certificates


def public_der(public_key: t.Any) -> bytes:
    """A public key as DER SubjectPublicKeyInfo (the form to compare keys by)."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches_cert(key: t.Any, cert: t.Any) -> bool:
    """True when the private key's public half is the certificate's public key."""
    return public_der(key.public_key()) == public_der(cert.public_key())


def is_issued_by(cert: t.Any, ca: t.Any) -> bool:
    """True when ``cert``'s issuer is ``ca``'s subject and ``ca``'s key verifies its signature."""
    if cert.issuer != ca.subject:
        return False
    verify = getattr(cert, "verify_directly_issued_by", None)
    try:
        if verify is not None:  # cryptography >= 40
            verify(ca)
            return True
        public_key = ca.public_key()
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:  # Ed25519 / Ed448
            public_key.verify(cert.signature, cert.tbs_certificate_bytes)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def not_after(cert: t.Any) -> datetime.datetime:
    """The certificate's expiry as an aware UTC datetime (any cryptography version)."""
    value = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    if value is None:
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value
