# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/module_utils/_kubeconfig.py (certificates generated in-test)."""

from __future__ import annotations

import base64
import datetime
import os
import sys

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

# Plain `pytest tests/unit` from the collection root: make `ansible_collections.*` importable.
_HERE = os.path.abspath(__file__)
while os.path.basename(_HERE) not in ("ansible_collections", ""):
    _HERE = os.path.dirname(_HERE)
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

from ansible_collections.kubebin.cluster.plugins.module_utils import _kubeconfig as kc  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)


# --------------------------------------------------------------------------- fixtures


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _cert(subject, issuer, public_key, signing_key, ca: bool, days: int = 365):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signing_key, hashes.SHA256())


def _pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class Pki:
    """A CA, a client cert/key signed by it, and an unrelated CA with the same subject."""

    def __init__(self) -> None:
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca = _cert(_name("kubernetes"), _name("kubernetes"), self.ca_key.public_key(), self.ca_key, True)
        self.client_key = ec.generate_private_key(ec.SECP256R1())
        self.client = _cert(_name("admin", "system:masters"), self.ca.subject, self.client_key.public_key(), self.ca_key, False)
        # Same subject as the real CA: only the signature check can tell them apart.
        self.other_ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_ca = _cert(_name("kubernetes"), _name("kubernetes"), self.other_ca_key.public_key(), self.other_ca_key, True)
        self.other_client = _cert(_name("admin"), self.other_ca.subject, self.client_key.public_key(), self.other_ca_key, False)
        self.other_key = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def files(tmp_path, pki):
    paths = {}
    for name, data in {
        "ca": _pem_cert(pki.ca),
        "client": _pem_cert(pki.client),
        "client_key": _pem_key(pki.client_key),
        "other_ca": _pem_cert(pki.other_ca),
        "other_client": _pem_cert(pki.other_client),
        "other_key": _pem_key(pki.other_key),
        "corrupt": b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        "garbage": b"hello\n",
    }.items():
        path = tmp_path / f"{name}.pem"
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def _params(files, **overrides):
    params = {
        "path": "unused",
        "state": "present",
        "cluster": "kubernetes",
        "server": "https://10.0.0.10:6443",
        "ca_cert": files["ca"],
        "ca_cert_content": None,
        "user": "admin",
        "client_cert": files["client"],
        "client_cert_content": None,
        "client_key": files["client_key"],
        "client_key_content": None,
        "token": None,
        "context": None,
        "namespace": None,
        "current_context": True,
    }
    params.update(overrides)
    return params


def _entry(config, list_key, name):
    matches = [item for item in config[list_key] if item["name"] == name]
    assert len(matches) == 1, (list_key, name, config[list_key])
    return matches[0]


EXISTING = """\
apiVersion: v1
kind: Config
preferences:
  colors: true
extensions:
- name: keep-me
  extension: {a: 1}
current-context: other@elsewhere
clusters:
- name: elsewhere
  cluster: {server: "https://192.0.2.1:6443", insecure-skip-tls-verify: true}
users:
- name: other
  user: {token: othertoken123}
contexts:
- name: other@elsewhere
  context: {cluster: elsewhere, user: other}
"""


# --------------------------------------------------------------------------- present


def test_new_file_has_kubectl_layout(files, pki):
    result = kc.plan(_params(files), None)
    assert result.before is None
    assert result.content_changed
    assert result.context == "admin@kubernetes"
    after = result.after
    assert list(after) == ["apiVersion", "clusters", "contexts", "current-context", "kind", "preferences", "users"]
    assert after["apiVersion"] == "v1" and after["kind"] == "Config" and after["preferences"] == {}
    assert after["current-context"] == "admin@kubernetes"
    cluster = _entry(after, "clusters", "kubernetes")["cluster"]
    assert cluster["server"] == "https://10.0.0.10:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == _pem_cert(pki.ca)
    user = _entry(after, "users", "admin")["user"]
    assert base64.b64decode(user["client-certificate-data"]) == _pem_cert(pki.client)
    assert base64.b64decode(user["client-key-data"]) == _pem_key(pki.client_key)
    assert _entry(after, "contexts", "admin@kubernetes")["context"] == {"cluster": "kubernetes", "user": "admin"}


def test_dump_is_deterministic_unfolded_and_round_trips(files):
    after = kc.plan(_params(files, namespace="kube-system"), None).after
    text = kc.dump_config(after)
    assert text == kc.dump_config(yaml.safe_load(text))
    assert yaml.safe_load(text) == after
    top_keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "-"))]
    assert top_keys == ["apiVersion", "clusters", "contexts", "current-context", "kind", "preferences", "users"]
    # base64 blobs are on one line each (no YAML folding at 80 columns)
    assert any(len(line) > 500 for line in text.splitlines() if "client-certificate-data" in line)
    assert "namespace: kube-system" in text


def test_merge_keeps_other_entries_and_unknown_keys(files):
    result = kc.plan(_params(files), EXISTING)
    after = result.after
    assert [c["name"] for c in after["clusters"]] == ["elsewhere", "kubernetes"]
    assert [u["name"] for u in after["users"]] == ["other", "admin"]
    assert [c["name"] for c in after["contexts"]] == ["other@elsewhere", "admin@kubernetes"]
    assert _entry(after, "clusters", "elsewhere")["cluster"]["insecure-skip-tls-verify"] is True
    assert after["preferences"] == {"colors": True}
    assert after["extensions"] == [{"name": "keep-me", "extension": {"a": 1}}]
    assert after["current-context"] == "admin@kubernetes"
    assert result.content_changed


def test_current_context_false_keeps_current(files):
    after = kc.plan(_params(files, current_context=False), EXISTING).after
    assert after["current-context"] == "other@elsewhere"


def test_replace_existing_entries_in_place(files, pki):
    first = kc.dump_config(kc.plan(_params(files), EXISTING).after)
    result = kc.plan(_params(files, server="https://lb.example:8443", client_cert=None, client_key=None, token="abcdef.0123456789abcdef"), first)
    after = result.after
    assert result.content_changed
    assert [c["name"] for c in after["clusters"]] == ["elsewhere", "kubernetes"]
    assert _entry(after, "clusters", "kubernetes")["cluster"]["server"] == "https://lb.example:8443"
    # the user is replaced as a whole: no stale certificate next to the token
    assert _entry(after, "users", "admin")["user"] == {"token": "abcdef.0123456789abcdef"}
    assert len(after["contexts"]) == 2


def test_idempotent_by_content_not_bytes(files):
    after = kc.plan(_params(files), EXISTING).after
    text = kc.dump_config(after)
    assert not kc.plan(_params(files), text).content_changed
    # Reformatted: flow style, different key order, JSON, null lists -> still no change.
    reordered = dict(reversed(list(after.items())))
    for variant in (
        yaml.safe_dump(reordered, default_flow_style=True, sort_keys=False),
        __import__("json").dumps(after, indent=4),
    ):
        assert not kc.plan(_params(files), variant).content_changed
    assert kc.configs_equal({"clusters": None, "users": None, "contexts": None}, kc.new_config())
    assert not kc.configs_equal(after, kc.plan(_params(files, namespace="x"), text).after)


def test_duplicate_names_collapse_to_one(files):
    dup = {"clusters": [{"name": "kubernetes", "cluster": {}}, {"name": "kubernetes", "cluster": {}}]}
    after = kc.plan(_params(files), yaml.safe_dump(dup)).after
    assert len([c for c in after["clusters"] if c["name"] == "kubernetes"]) == 1


def test_token_user(files):
    result = kc.plan(_params(files, user="kubelet-bootstrap", context="default", client_cert=None, client_key=None, token="07401b.f395accd246ae52d"), None)
    assert result.context == "default"
    assert _entry(result.after, "users", "kubelet-bootstrap")["user"] == {"token": "07401b.f395accd246ae52d"}
    assert "07401b.f395accd246ae52d" in kc.secret_values(result.after)


def test_content_options(files, pki):
    params = _params(
        files,
        ca_cert=None,
        ca_cert_content=_pem_cert(pki.ca).decode(),
        client_cert=None,
        client_cert_content=_pem_cert(pki.client).decode(),
        client_key=None,
        client_key_content=_pem_key(pki.client_key).decode(),
    )
    assert kc.plan(params, None).after == kc.plan(_params(files), None).after


def test_ca_bundle_accepted(files, pki, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(_pem_cert(pki.other_ca) + _pem_cert(pki.ca))
    after = kc.plan(_params(files, ca_cert=str(bundle)), None).after
    ca_data = _entry(after, "clusters", "kubernetes")["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca_data) == bundle.read_bytes()


def test_expired_client_cert_warns(files, pki, tmp_path):
    expired = _cert(_name("admin"), pki.ca.subject, pki.client_key.public_key(), pki.ca_key, False, days=-1)
    path = tmp_path / "expired.pem"
    path.write_bytes(_pem_cert(expired))
    result = kc.plan(_params(files, client_cert=str(path)), None)
    assert any(w.startswith("client_cert: ") and "expired" in w for w in result.warnings)


# --------------------------------------------------------------------------- absent


def test_absent_removes_only_named_entries(files):
    text = kc.dump_config(kc.plan(_params(files), EXISTING).after)
    result = kc.plan(_params(files, state="absent"), text)
    assert result.content_changed
    after = result.after
    assert [c["name"] for c in after["clusters"]] == ["elsewhere"]
    assert [u["name"] for u in after["users"]] == ["other"]
    assert [c["name"] for c in after["contexts"]] == ["other@elsewhere"]
    assert after["current-context"] == ""
    assert after["extensions"] and after["preferences"] == {"colors": True}
    assert kc.configs_equal(after, kc.plan(_params(files, state="absent"), kc.dump_config(after)).after)
    assert not kc.plan(_params(files, state="absent"), kc.dump_config(after)).content_changed


def test_absent_keeps_cluster_used_by_another_context(files):
    text = kc.dump_config(kc.plan(_params(files), None).after)
    text = kc.dump_config(kc.plan(_params(files, context="ns", namespace="kube-system", current_context=False), text).after)
    result = kc.plan({"cluster": "kubernetes", "user": "admin", "context": "ns", "state": "absent"}, text)
    assert [c["name"] for c in result.after["contexts"]] == ["admin@kubernetes"]
    assert [c["name"] for c in result.after["clusters"]] == ["kubernetes"]
    assert len(result.warnings) == 2 and all("kept" in w for w in result.warnings)
    assert result.after["current-context"] == "admin@kubernetes"


def test_absent_without_file_is_a_noop(files):
    result = kc.plan({"cluster": "kubernetes", "user": "admin", "state": "absent"}, None)
    assert result.after is None and not result.content_changed


def test_absent_needs_no_credentials():
    existing = kc.dump_config(kc.new_config())
    result = kc.plan({"cluster": "kubernetes", "user": "admin", "state": "absent"}, existing)
    assert not result.content_changed


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("server", ["http://10.0.0.10:6443", "10.0.0.10:6443", "https://", "https://host:99999", "https://host:port", "https://a b", "", None])
def test_server_must_be_https(files, server):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.plan(_params(files, server=server), None)
    assert err.value.field == "server"
    assert str(err.value).startswith("server: ")


@pytest.mark.parametrize("server", ["https://10.0.0.10:6443", "https://[fd00::1]:6443", "https://lb.example", "https://h:443/prefix"])
def test_server_valid(server):
    assert kc.validate_server(server) == server


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert", "cannot read"),
        ({"client_cert": "/nonexistent/admin.pem"}, "client_cert", "cannot read"),
        ({"client_key": "/nonexistent/admin-key.pem"}, "client_key", "cannot read"),
        ({"ca_cert": "corrupt"}, "ca_cert", "corrupt"),
        ({"ca_cert": "garbage"}, "ca_cert", "PEM certificate"),
        ({"client_cert": "corrupt"}, "client_cert", "corrupt"),
        ({"client_key": "garbage"}, "client_key", "not a valid PEM private key"),
        ({"client_key": "client"}, "client_key", "not a valid PEM private key"),
        ({"client_cert": "other_client"}, "client_cert", "not signed by the CA"),
        ({"ca_cert": "other_ca"}, "client_cert", "not signed by the CA"),
        ({"client_key": "other_key"}, "client_key", "does not match"),
        ({"client_key": None}, "client_key", "required"),
        ({"client_cert": None, "client_key": None}, "client_cert", "required"),
        ({"ca_cert": None}, "ca_cert", "required"),
        ({"user": None}, "user", "required"),
        ({"cluster": " "}, "cluster", "empty"),
        ({"token": "abc def", "client_cert": None, "client_key": None}, "token", "whitespace"),
        ({"token": "abc.def"}, "token", "mutually exclusive"),
    ],
)
def test_bad_input_names_the_field(files, overrides, field, words):
    resolved = {k: files.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(kc.KubeconfigError) as err:
        kc.plan(_params(files, **resolved), None)
    assert err.value.field == field
    assert str(err.value).startswith(field + ": ")
    assert words in str(err.value)


def test_bad_content_names_content_field(files, pki):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.plan(_params(files, client_key=None, client_key_content=_pem_key(pki.other_key).decode()), None)
    assert err.value.field == "client_key_content"


def test_encrypted_key_rejected(files, pki, tmp_path):
    path = tmp_path / "enc.pem"
    path.write_bytes(pki.client_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(kc.KubeconfigError) as err:
        kc.plan(_params(files, client_key=str(path)), None)
    assert err.value.field == "client_key" and "encrypted" in err.value.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "clusters: {a: 1}\n", "key: [unclosed\n"])
def test_existing_file_not_a_kubeconfig(files, text):
    with pytest.raises(kc.KubeconfigError) as err:
        kc.plan(_params(files), text)
    assert err.value.field == "path"


def test_empty_existing_file_is_empty_config(files):
    result = kc.plan(_params(files), "")
    assert result.before == {} and result.content_changed


def test_issuer_check_without_signature(pki):
    assert kc.is_issued_by(pki.client, pki.ca)
    assert not kc.is_issued_by(pki.client, pki.other_ca)  # same subject, other key
    assert not kc.is_issued_by(pki.ca, pki.client)


# --------------------------------------------------------------------------- secrets and diff


def test_diff_never_contains_secrets(files, pki):
    existing = kc.dump_config(kc.plan(_params(files, user="tok", client_cert=None, client_key=None, token="s3cr3t.t0ken00000000"), EXISTING).after)
    result = kc.plan(_params(files), existing)
    diff = kc.diff_texts(result.before, result.after)
    key_b64 = base64.b64encode(_pem_key(pki.client_key)).decode()
    cert_b64 = base64.b64encode(_pem_cert(pki.client)).decode()
    for side in ("before", "after"):
        text = diff[side]
        assert key_b64 not in text and cert_b64 not in text
        assert "s3cr3t.t0ken00000000" not in text and "othertoken123" not in text
        assert "BEGIN" not in text
    after = yaml.safe_load(diff["after"])
    user = _entry(after, "users", "admin")["user"]
    assert user["client-key-data"] == "REDACTED (changed)"
    assert user["client-certificate-data"].startswith("REDACTED (sha256:")
    assert _entry(after, "users", "tok")["user"]["token"] == "REDACTED"
    secrets = kc.secret_values(result.after)
    assert key_b64 in secrets and _pem_key(pki.client_key).decode() in secrets
    assert "othertoken123" in secrets and "s3cr3t.t0ken00000000" in secrets


def test_diff_unchanged_secret_is_plain_redacted(files):
    text = kc.dump_config(kc.plan(_params(files), None).after)
    result = kc.plan(_params(files), text)
    diff = kc.diff_texts(result.before, result.after)
    assert diff["before"] == diff["after"]
    assert "REDACTED (changed)" not in diff["after"]


def test_new_file_diff_before_is_empty(files):
    result = kc.plan(_params(files), None)
    assert kc.diff_texts(result.before, result.after)["before"] == ""


# --------------------------------------------------------------------------- file I/O


class FakeModule:
    def __init__(self, mode="0600"):
        self.params = {"mode": mode}

    def set_mode_if_different(self, path, mode, changed):
        os.chmod(path, int(mode, 8))
        return changed

    def selinux_enabled(self):
        return False


def test_write_atomically_new_and_existing(tmp_path):
    path = tmp_path / "admin.kubeconfig"
    kc.write_atomically(FakeModule(), str(path), "a: 1\n")
    assert path.read_text() == "a: 1\n" and (path.stat().st_mode & 0o777) == 0o600
    path.chmod(0o644)
    kc.write_atomically(FakeModule(), str(path), "a: 2\n")
    assert path.read_text() == "a: 2\n" and (path.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["admin.kubeconfig"]


def test_read_existing(tmp_path):
    assert kc.read_existing(str(tmp_path / "missing")) is None
    with pytest.raises(kc.KubeconfigError) as err:
        kc.read_existing(str(tmp_path / "no" / "such" / "file"))
    assert err.value.field == "path" and "does not exist" in err.value.message
    with pytest.raises(kc.KubeconfigError) as err:
        kc.read_existing(str(tmp_path))
    assert err.value.field == "path"
