# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/module_utils/_common.py (the helpers _pki, _kubeconfig and _bootstrap share)."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.kubebin.cluster.plugins.module_utils import _bootstrap, _common, _kubeconfig, _pki
from ansible_collections.kubebin.cluster.plugins.modules import cert_authority

NOW = datetime.datetime.now(datetime.timezone.utc)


def _cert(cn, key, issuer_key=None, issuer_name=None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer = issuer_key or key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=10))
        .sign(signer, algorithm)
    )


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --------------------------------------------------------------------------- errors


def test_module_errors_share_the_field_error():
    for cls in (_pki.PKIError, _kubeconfig.KubeconfigError, _bootstrap.TokenError):
        err = cls("opt", "is wrong")
        assert isinstance(err, _common.FieldError)
        assert (str(err), err.field, err.message) == ("opt: is wrong", "opt", "is wrong")


# --------------------------------------------------------------------------- read_file


def test_read_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"data")
    assert _common.read_file(str(path), "opt") == b"data"


def test_read_file_missing(tmp_path):
    missing = str(tmp_path / "missing")
    assert _common.read_file(missing, "opt", missing_ok=True) is None
    with pytest.raises(_common.FieldError, match=r"^opt: cannot read .*missing: No such file or directory$"):
        _common.read_file(missing, "opt")


def test_read_file_unreadable_raises_the_callers_error(tmp_path):
    # a directory cannot be read as a file, even by root; missing_ok does not hide it
    with pytest.raises(_pki.PKIError) as err:
        _common.read_file(str(tmp_path), "ca_cert", _pki.PKIError, missing_ok=True)
    assert err.value.field == "ca_cert" and "cannot read" in err.value.message


# --------------------------------------------------------------------------- write_atomic


def test_write_atomic_new_file_gets_the_mode(tmp_path):
    path = tmp_path / "key.pem"
    _common.write_atomic(str(path), b"secret", 0o600)
    assert path.read_bytes() == b"secret" and _mode(path) == 0o600
    _common.write_atomic(str(path), b"public", 0o644)
    assert path.read_bytes() == b"public" and _mode(path) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]


def test_write_atomic_mode_is_set_before_the_content_and_the_rename(tmp_path):
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    seen = {}

    def prepare(tmp):
        seen["mode"] = _mode(tmp)
        seen["content"] = open(tmp, "rb").read()
        seen["dir"] = os.path.dirname(tmp)
        seen["target"] = path.read_bytes()  # not replaced yet

    _common.write_atomic(str(path), b"new", 0o640, prepare=prepare)
    assert seen == {"mode": 0o640, "content": b"new", "dir": str(tmp_path), "target": b"old"}
    assert path.read_bytes() == b"new"


def test_write_atomic_without_mode_keeps_the_private_temp_mode(tmp_path):
    path = tmp_path / "kubeconfig"
    _common.write_atomic(str(path), b"x", mode=None)
    assert _mode(path) == 0o600


def test_write_atomic_keeps_the_owner_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")
    before = os.stat(path)
    _common.write_atomic(str(path), b"new")
    after = os.stat(path)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert after.st_ino != before.st_ino  # replaced, not rewritten in place


def test_write_atomic_failure_leaves_the_file_and_no_temp(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def boom(_tmp):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _common.write_atomic(str(path), b"new", prepare=boom)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_write_atomic_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        _common.write_atomic(str(tmp_path / "no" / "f"), b"x")


# --------------------------------------------------------------------------- keys and certificates


@pytest.fixture(scope="module")
def keys():
    return {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ec2": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


def test_key_matches_cert(keys):
    cert = _cert("a", keys["ec"])
    assert _common.key_matches_cert(keys["ec"], cert)
    assert not _common.key_matches_cert(keys["ec2"], cert)
    assert _common.public_der(keys["ec"].public_key()) == _common.public_der(cert.public_key())


@pytest.mark.parametrize("ca_kind", ["ec", "rsa", "ed"])
def test_is_issued_by(keys, ca_kind):
    ca = _cert("ca", keys[ca_kind])
    leaf = _cert("leaf", keys["ec2"], keys[ca_kind], ca.subject)
    assert _common.is_issued_by(leaf, ca)
    assert not _common.is_issued_by(ca, leaf)  # issuer name differs
    impostor = _cert("ca", keys["ec2"])  # same subject, other key
    assert not _common.is_issued_by(leaf, impostor)


def test_is_issued_by_without_verify_directly_issued_by(keys):
    """The fallback for cryptography < 40 checks the signature itself."""

    class Old:
        def __init__(self, cert):
            self._cert = cert

        def __getattr__(self, name):
            if name == "verify_directly_issued_by":
                raise AttributeError(name)
            return getattr(self._cert, name)

    for kind in ("ec", "rsa", "ed"):
        ca = _cert("ca", keys[kind])
        leaf = _cert("leaf", keys["ec2"], keys[kind], ca.subject)
        assert _common.is_issued_by(Old(leaf), ca)
        assert not _common.is_issued_by(Old(leaf), _cert("ca", keys["ec2"]))


def test_not_after_is_aware_utc(keys):
    cert = _cert("a", keys["ec"])
    value = _common.not_after(cert)
    assert value.tzinfo is not None and value.utcoffset() == datetime.timedelta(0)
    assert abs(value - (NOW + datetime.timedelta(days=10))) < datetime.timedelta(seconds=1)


# --------------------------------------------------------------------------- one source of defaults


def test_cert_authority_defaults_come_from_pki():
    spec = cert_authority.argument_spec()
    assert {name: spec[name]["default"] for name in _pki.OPTION_DEFAULTS} == _pki.OPTION_DEFAULTS
    documented = {name for name, option in spec.items() if "default" in option}
    assert documented == set(_pki.OPTION_DEFAULTS)
    spec["force_renew"]["default"].append("x")  # the module's copy, not the constant
    assert _pki.OPTION_DEFAULTS["force_renew"] == []
