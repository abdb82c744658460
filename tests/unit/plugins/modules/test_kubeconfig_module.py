# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/modules/kubeconfig.py: the module's contract around the logic."""

from __future__ import annotations

import base64
import datetime
import json
import os
import stat
import sys

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_HERE = os.path.abspath(__file__)
while os.path.basename(_HERE) not in ("ansible_collections", ""):
    _HERE = os.path.dirname(_HERE)
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.kubebin.cluster.plugins.modules import kubeconfig  # noqa: E402


def _cert(cn, issuer, public_key, signing_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signing_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("kubernetes-ca", None, ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("admin", ca.subject, key.public_key(), ca_key, False)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "admin.pem").write_bytes(client.public_bytes(serialization.Encoding.PEM))
    (directory / "admin-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    )
    return directory


def run(capsys, **args):
    """Run the module's main() and return (exit code, parsed JSON result)."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            kubeconfig.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out), out


@pytest.fixture
def base(pki_dir, tmp_path):
    return dict(
        path=str(tmp_path / "admin.kubeconfig"),
        cluster="kubernetes",
        server="https://10.0.0.10:6443",
        ca_cert=str(pki_dir / "ca.pem"),
        user="admin",
        client_cert=str(pki_dir / "admin.pem"),
        client_key=str(pki_dir / "admin-key.pem"),
    )


def test_check_apply_idempotent(capsys, base):
    path = base["path"]
    rc, result, out = run(capsys, _ansible_check_mode=True, **base)
    assert rc == 0 and result["changed"] and not os.path.exists(path)
    rc, result, out = run(capsys, **base)
    assert rc == 0 and result["changed"]
    assert result["path"] == path and result["context"] == "admin@kubernetes"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = open(path, "rb").read()
    for check in (True, False):
        rc, result, out = run(capsys, _ansible_check_mode=check, **base)
        assert rc == 0 and not result["changed"]
    assert open(path, "rb").read() == before


def test_mode_is_enforced_on_unchanged_content(capsys, base):
    run(capsys, **base)
    os.chmod(base["path"], 0o644)
    rc, result, out = run(capsys, _ansible_check_mode=True, **base)
    assert result["changed"] and stat.S_IMODE(os.stat(base["path"]).st_mode) == 0o644
    rc, result, out = run(capsys, **base)
    assert result["changed"] and stat.S_IMODE(os.stat(base["path"]).st_mode) == 0o600
    rc, result, out = run(capsys, **base)
    assert not result["changed"]


def test_reformatted_file_is_not_rewritten(capsys, base):
    run(capsys, **base)
    data = yaml.safe_load(open(base["path"]).read())
    with open(base["path"], "w") as handle:
        json.dump(data, handle)
    rc, result, out = run(capsys, **base)
    assert not result["changed"]
    assert open(base["path"]).read().startswith("{")


def test_backup(capsys, base):
    run(capsys, **base)
    rc, result, out = run(capsys, backup=True, **dict(base, server="https://10.0.0.11:6443"))
    assert result["changed"] and os.path.exists(result["backup_file"])
    assert "10.0.0.10" in open(result["backup_file"]).read()


def test_diff_and_output_hide_the_key(capsys, base, pki_dir):
    key_pem = (pki_dir / "admin-key.pem").read_bytes()
    key_b64 = base64.b64encode(key_pem).decode()
    rc, result, out = run(capsys, _ansible_diff=True, **base)
    assert "diff" in result and result["diff"]["before"] == ""
    assert "REDACTED" in result["diff"]["after"]
    assert key_b64 not in out and key_pem.decode() not in out
    # the file itself does hold the key
    assert key_b64 in open(base["path"]).read()


def test_token_is_masked(capsys, base):
    args = {k: v for k, v in base.items() if k not in ("client_cert", "client_key")}
    args.update(token="abcdef.0123456789abcdef", user="kubelet-bootstrap")
    rc, result, out = run(capsys, _ansible_diff=True, **args)
    assert rc == 0, result
    assert "0123456789abcdef" not in out
    assert "0123456789abcdef" in open(base["path"]).read()


def test_failure_names_the_option(capsys, base):
    rc, result, out = run(capsys, **dict(base, server="http://10.0.0.10:6443"))
    assert rc == 1 and result["failed"] and result["msg"].startswith("server: ")
    assert result["field"] == "server" and not os.path.exists(base["path"])


def test_token_and_cert_are_mutually_exclusive(capsys, base):
    rc, result, out = run(capsys, token="abc.def", **base)
    assert rc == 1 and "mutually exclusive" in result["msg"]


def test_absent_keeps_file(capsys, base):
    run(capsys, **base)
    rc, result, out = run(capsys, path=base["path"], cluster="kubernetes", user="admin", state="absent")
    assert result["changed"] and os.path.exists(base["path"])
    data = yaml.safe_load(open(base["path"]).read())
    assert data["clusters"] == [] and data["users"] == [] and data["contexts"] == [] and data["current-context"] == ""
    rc, result, out = run(capsys, path=base["path"], cluster="kubernetes", user="admin", state="absent")
    assert not result["changed"]


# --------------------------------------------------------------------------- kubeconfigs (list mode)


@pytest.fixture
def several(base, tmp_path):
    """Three files in one task: two with the task's client certificate, one with a token and 0640."""
    shared = {k: v for k, v in base.items() if k != "path"}
    return dict(shared, kubeconfigs=[
        dict(path=str(tmp_path / "one.kubeconfig")),
        dict(path=str(tmp_path / "two.kubeconfig"), server="https://127.0.0.1:6443", context="default"),
        dict(path=str(tmp_path / "three.kubeconfig"), user="kubelet-bootstrap",
             token="abcdef.0123456789abcdef", mode="0640"),
    ])


def test_list_check_apply_idempotent(capsys, several, tmp_path):
    shared = {k: v for k, v in several.items() if k != "kubeconfigs"}
    shared.pop("client_cert"), shared.pop("client_key")
    args = dict(shared, kubeconfigs=[dict(e) for e in several["kubeconfigs"][:2]])
    for element in args["kubeconfigs"]:
        element.update(client_cert=several["client_cert"], client_key=several["client_key"])
    args["kubeconfigs"].append(several["kubeconfigs"][2])
    paths = [e["path"] for e in args["kubeconfigs"]]
    rc, result, out = run(capsys, _ansible_check_mode=True, **args)
    assert rc == 0 and result["changed"] and result["changed_paths"] == paths
    assert not any(os.path.exists(p) for p in paths)
    rc, result, out = run(capsys, **args)
    assert rc == 0 and result["changed_paths"] == paths, result
    assert [r["context"] for r in result["results"]] == ["admin@kubernetes", "default", "kubelet-bootstrap@kubernetes"]
    assert [stat.S_IMODE(os.stat(p).st_mode) for p in paths] == [0o600, 0o600, 0o640]
    assert yaml.safe_load(open(paths[1]).read())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert yaml.safe_load(open(paths[0]).read())["clusters"][0]["cluster"]["server"] == "https://10.0.0.10:6443"
    assert "0123456789abcdef" not in out and "0123456789abcdef" in open(paths[2]).read()
    os.chmod(paths[1], 0o644)
    rc, result, out = run(capsys, **args)
    assert result["changed_paths"] == [paths[1]] and stat.S_IMODE(os.stat(paths[1]).st_mode) == 0o600
    rc, result, out = run(capsys, _ansible_diff=True, **args)
    assert rc == 0 and not result["changed"] and result["changed_paths"] == []
    assert [d["before_header"] for d in result["diff"]] == paths


def test_list_one_bad_element_writes_nothing(capsys, several):
    several["kubeconfigs"][2] = dict(path=several["kubeconfigs"][2]["path"], server="http://10.0.0.10:6443")
    rc, result, out = run(capsys, **several)
    assert rc == 1 and result["msg"].startswith("kubeconfigs[2].server: ") and result["field"] == "kubeconfigs[2].server"
    assert not any(os.path.exists(e["path"]) for e in several["kubeconfigs"])


def test_list_element_conflicting_with_the_task(capsys, several):
    # the task gives client_cert and client_key: the element with a token conflicts with them
    rc, result, out = run(capsys, **several)
    assert rc == 1 and result["msg"].startswith("kubeconfigs[2]: ") and "mutually exclusive" in result["msg"]


def test_path_or_kubeconfigs(capsys, several, base):
    rc, result, out = run(capsys, **dict(several, path=base["path"]))
    assert rc == 1 and "mutually exclusive" in result["msg"]
    rc, result, out = run(capsys, **{k: v for k, v in several.items() if k != "kubeconfigs"})
    assert rc == 1 and "one of the following is required" in result["msg"]
