# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the PKI logic behind kubebin.cluster.cert_authority."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.kubebin.cluster.plugins.module_utils import _pki


def params(path, **kw):
    base = {
        "path": str(path),
        "shared_ca": False,
        "cas": None,
        "ca_key_type": "ecdsa-p256",  # fast keys; RSA is covered by dedicated tests
        "ca_validity_days": 3650,
        "certificates": [],
        "key_type": "ecdsa-p256",
        "validity_days": 365,
        "renew_before_days": 30,
        "service_account_key": True,
        "service_account_key_name": "sa",
        "service_account_key_type": "ecdsa-p256",
        "force_ca": False,
        "force_renew": [],
    }
    base.update(kw)
    return base


APISERVER = {
    "name": "kubernetes",
    "common_name": "kubernetes",
    "usages": ["server"],
    "dns_names": ["kubernetes", "kubernetes.default"],
    "ip_addresses": ["10.254.0.1", "127.0.0.1", "fd00::1"],
}
ADMIN = {"name": "admin", "common_name": "admin", "organization": ["system:masters"], "usages": ["client"]}
ETCD = {"name": "etcd1", "ca": "etcd-ca", "common_name": "etcd1", "usages": ["peer"], "ip_addresses": ["127.0.0.1"]}


def run(p, check_mode=False, at=None):
    return _pki.apply(_pki.plan(p, at=at), check_mode)


def load(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ----------------------------------------------------------------- first run


def test_first_run_creates_three_cas_sa_and_leaves(tmp_path):
    pki = tmp_path / "pki"
    result = run(params(pki, certificates=[APISERVER, ADMIN, ETCD]))
    assert result["changed"]
    assert set(result["cas"]) == {"ca", "etcd-ca", "front-proxy-ca"}
    assert all(r["reason"] == "missing" for r in result["certificates"].values())
    assert mode(pki) == 0o700
    for name in ("ca", "etcd-ca", "front-proxy-ca", "kubernetes", "admin", "etcd1"):
        assert mode(pki / f"{name}.pem") == 0o644
        assert mode(pki / f"{name}-key.pem") == 0o600
    assert mode(pki / "sa-key.pem") == 0o600 and mode(pki / "sa.pub") == 0o644

    ca, etcd_ca = load(pki / "ca.pem"), load(pki / "etcd-ca.pem")
    assert _pki.is_issued_by(load(pki / "kubernetes.pem"), ca)
    assert _pki.is_issued_by(load(pki / "etcd1.pem"), etcd_ca)
    assert not _pki.is_issued_by(load(pki / "etcd1.pem"), ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    api = load(pki / "kubernetes.pem")
    sans = api.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"kubernetes", "kubernetes.default"}
    assert {str(i) for i in sans.get_values_for_type(x509.IPAddress)} == {"10.254.0.1", "127.0.0.1", "fd00::1"}
    ekus = set(api.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == {ExtendedKeyUsageOID.SERVER_AUTH}
    peer = set(load(pki / "etcd1.pem").extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert peer == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    admin = load(pki / "admin.pem")
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert result["certificates"]["admin"]["serial"] == format(admin.serial_number, "x")


def test_second_run_changes_nothing(tmp_path):
    p = params(tmp_path, certificates=[APISERVER, ADMIN, ETCD])
    run(p)
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}
    result = run(p)
    assert not result["changed"]
    assert all(r["reason"] is None and not r["changed"] for r in result["certificates"].values())
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before


def test_check_mode_predicts_and_writes_nothing(tmp_path):
    pki = tmp_path / "pki"
    result = run(params(pki, certificates=[APISERVER]), check_mode=True)
    assert result["changed"]
    assert result["certificates"]["kubernetes"]["reason"] == "missing"
    assert result["certificates"]["kubernetes"]["serial"] is None
    assert not pki.exists()


def test_shared_ca_signs_everything(tmp_path):
    result = run(params(tmp_path, shared_ca=True, certificates=[APISERVER, ETCD]))
    assert set(result["cas"]) == {"ca"}
    ca = load(tmp_path / "ca.pem")
    assert _pki.is_issued_by(load(tmp_path / "etcd1.pem"), ca)
    assert not (tmp_path / "etcd-ca.pem").exists()


@pytest.mark.parametrize("key_type,size", [("rsa2048", 2048), ("rsa3072", 3072)])
def test_rsa_key_types(tmp_path, key_type, size):
    run(params(tmp_path, certificates=[dict(ADMIN, key_type=key_type)]))
    key = _pki.load_key(str(tmp_path / "admin-key.pem"), "t")
    assert key.key_size == size
    assert _pki.key_type_of(load(tmp_path / "admin.pem").public_key()) == key_type


# ------------------------------------------------------------------- reissue


def test_added_san_reissues_only_that_leaf(tmp_path):
    p = params(tmp_path, certificates=[APISERVER, ADMIN])
    run(p)
    ca_before = (tmp_path / "ca.pem").read_bytes()
    admin_before = (tmp_path / "admin.pem").read_bytes()
    api = dict(APISERVER, ip_addresses=APISERVER["ip_addresses"] + ["192.0.2.7"])
    result = run(params(tmp_path, certificates=[api, ADMIN]))
    assert result["certificates"]["kubernetes"]["changed"]
    assert "added 192.0.2.7" in result["certificates"]["kubernetes"]["reason"]
    assert not result["certificates"]["admin"]["changed"]
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    assert (tmp_path / "admin.pem").read_bytes() == admin_before
    assert not result["cas"]["ca"]["changed"]


@pytest.mark.parametrize("change,reason", [
    ({"common_name": "other"}, "subject changed"),
    ({"organization": ["system:nodes"]}, "subject changed"),
    ({"usages": ["client", "server"]}, "usages changed"),
    ({"key_type": "rsa2048"}, "key type is ecdsa-p256, want rsa2048"),
    ({"dns_names": []}, "removed kubernetes"),
])
def test_spec_changes_reissue_with_reason(tmp_path, change, reason):
    run(params(tmp_path, certificates=[APISERVER]))
    result = run(params(tmp_path, certificates=[dict(APISERVER, **change)]))
    assert reason in result["certificates"]["kubernetes"]["reason"]


def test_expiring_cert_is_renewed(tmp_path):
    p = params(tmp_path, certificates=[ADMIN])
    run(p)
    later = _pki.now() + datetime.timedelta(days=340)
    result = run(p, at=later)
    assert result["certificates"]["admin"]["reason"].startswith("expires in")
    result = run(params(tmp_path, certificates=[dict(ADMIN, renew_before_days=0)]), at=_pki.now())
    assert not result["changed"]


def test_key_mismatch_and_missing_key_reissue(tmp_path):
    p = params(tmp_path, certificates=[ADMIN, APISERVER])
    run(p)
    (tmp_path / "admin-key.pem").write_bytes((tmp_path / "kubernetes-key.pem").read_bytes())
    os.remove(tmp_path / "kubernetes-key.pem")
    result = run(p)
    assert result["certificates"]["admin"]["reason"] == "key does not match certificate"
    assert result["certificates"]["kubernetes"]["reason"] == "key file missing"
    assert not run(p)["changed"]


def test_foreign_issuer_is_reissued(tmp_path):
    other = tmp_path / "other"
    run(params(other, certificates=[ADMIN]))
    p = params(tmp_path, certificates=[ADMIN])
    run(p)
    for suffix in (".pem", "-key.pem"):
        (tmp_path / f"admin{suffix}").write_bytes((other / f"admin{suffix}").read_bytes())
    result = run(p)
    assert result["certificates"]["admin"]["reason"] == "not signed by the current CA 'ca'"


def test_force_renew_and_mode_fix(tmp_path):
    p = params(tmp_path, certificates=[ADMIN, APISERVER])
    run(p)
    os.chmod(tmp_path / "kubernetes-key.pem", 0o644)
    result = run(dict(p, force_renew=["admin"]))
    assert result["certificates"]["admin"]["reason"] == "force_renew"
    assert result["certificates"]["kubernetes"]["reason"] == "file mode corrected"
    assert mode(tmp_path / "kubernetes-key.pem") == 0o600


# ------------------------------------------------------------------- the CAs


def test_ca_is_never_regenerated_and_force_ca_reissues_all(tmp_path):
    p = params(tmp_path, certificates=[ADMIN])
    run(p)
    ca = (tmp_path / "ca.pem").read_bytes()
    run(dict(p, cas=[{"name": "ca", "common_name": "renamed"}, {"name": "etcd-ca", "common_name": "etcd-ca"},
                     {"name": "front-proxy-ca", "common_name": "kubernetes-front-proxy-ca"}]))
    assert (tmp_path / "ca.pem").read_bytes() == ca
    result = run(dict(p, force_ca=True))
    assert result["cas"]["ca"]["reason"] == "force_ca=true"
    assert result["certificates"]["admin"]["reason"] == "not signed by the current CA 'ca'"
    assert (tmp_path / "ca.pem").read_bytes() != ca
    assert _pki.is_issued_by(load(tmp_path / "admin.pem"), load(tmp_path / "ca.pem"))


def test_ca_key_mismatch_is_refused(tmp_path):
    p = params(tmp_path)
    run(p)
    (tmp_path / "ca-key.pem").write_bytes((tmp_path / "etcd-ca-key.pem").read_bytes())
    with pytest.raises(_pki.PKIError, match="does not match the certificate"):
        _pki.plan(p)


def test_half_ca_is_refused(tmp_path):
    p = params(tmp_path)
    run(p)
    os.remove(tmp_path / "front-proxy-ca-key.pem")
    with pytest.raises(_pki.PKIError, match="refusing to regenerate the CA"):
        _pki.plan(p)


def test_sa_key_is_kept_and_public_part_restored(tmp_path):
    p = params(tmp_path)
    run(p)
    key = (tmp_path / "sa-key.pem").read_bytes()
    os.remove(tmp_path / "sa.pub")
    result = run(p)
    assert result["service_account"]["reason"].startswith("public key missing")
    assert (tmp_path / "sa-key.pem").read_bytes() == key
    assert (tmp_path / "sa.pub").exists()


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize("cert,field,message", [
    (dict(ADMIN, ip_addresses=["10.0.0.300"]), "certificates[0] (admin).ip_addresses[0]", "not a valid IPv4 or IPv6"),
    (dict(ADMIN, common_name=""), "certificates[0] (admin).common_name", "non-empty"),
    (dict(ADMIN, usages=["serverx"]), "certificates[0] (admin).usages", "unknown usage"),
    (dict(ADMIN, key_type="dsa1024"), "certificates[0] (admin).key_type", "unknown key type"),
    (dict(ADMIN, ca="nope"), "certificates[0] (admin).ca", "unknown CA"),
    (dict(ADMIN, name="../evil"), "certificates[0].name", "not a valid file name"),
    (dict(ADMIN, name="ca"), "certificates[0] (ca).name", "duplicate"),
    (dict(ADMIN, validity_days=4000), "certificates[0] (admin).validity_days", "outlive CA"),
])
def test_bad_input_names_the_field_and_writes_nothing(tmp_path, cert, field, message):
    pki = tmp_path / "pki"
    with pytest.raises(_pki.PKIError) as err:
        _pki.plan(params(pki, certificates=[cert]))
    assert err.value.field == field
    assert message in str(err.value)
    assert not pki.exists()


def test_corrupt_files_are_reported(tmp_path):
    p = params(tmp_path, certificates=[ADMIN])
    run(p)
    (tmp_path / "admin.pem").write_text("garbage")
    with pytest.raises(_pki.PKIError, match="admin.pem is not a PEM certificate"):
        _pki.plan(p)
    (tmp_path / "ca-key.pem").write_text("garbage")
    with pytest.raises(_pki.PKIError, match="ca-key.pem is not an unencrypted PEM private key"):
        _pki.plan(p)


def test_unreadable_file_is_reported(tmp_path):
    p = params(tmp_path, certificates=[ADMIN])
    run(p)
    os.remove(tmp_path / "admin.pem")
    os.mkdir(tmp_path / "admin.pem")  # a directory cannot be read as a file, even by root
    with pytest.raises(_pki.PKIError, match="cannot read"):
        _pki.plan(p)


def test_force_renew_unknown_name(tmp_path):
    with pytest.raises(_pki.PKIError, match="names no certificate"):
        _pki.plan(params(tmp_path, force_renew=["ghost"]))


def test_path_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(_pki.PKIError, match="not a directory"):
        _pki.plan(params(tmp_path / "f"))


def test_diff_has_no_key_material(tmp_path):
    result = run(params(tmp_path, certificates=[ADMIN]))
    text = repr(result)
    for name in os.listdir(tmp_path):
        if name.endswith("-key.pem"):
            body = (tmp_path / name).read_text().splitlines()[1]
            assert body not in text


def test_plan_fills_in_the_option_defaults(tmp_path):
    p = _pki.plan({"path": str(tmp_path), "service_account_key_type": "ecdsa-p256", "ca_key_type": "ecdsa-p256"})
    assert [i.name for i in p.items] == ["ca", "etcd-ca", "front-proxy-ca", "sa"]
    assert p.items[0].spec.validity_days == _pki.OPTION_DEFAULTS["ca_validity_days"]


@pytest.mark.parametrize("option", ["validity_days", "ca_validity_days"])
def test_zero_default_validity_names_the_option(tmp_path, option):
    with pytest.raises(_pki.PKIError) as err:
        _pki.plan(params(tmp_path, certificates=[ADMIN], **{option: 0}))
    assert err.value.field == option
