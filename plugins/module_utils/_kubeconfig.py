# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Kubeconfig logic for kubebin.cluster.kubeconfig (private: not a public API).

The module is a thin wrapper around ``plan()`` (pure: options + current file text in,
``Plan(before, after, context, warnings)`` out), ``read_existing()`` and
``write_atomically()``. ``plan()`` is built from:

* ``load_material()`` reads and validates certificates, keys and the server URL,
  raising ``KubeconfigError`` (which carries the offending option's name);
* ``build_entries()`` turns the validated material into one cluster, user and context;
* ``merge_present()`` / ``merge_absent()`` compute the desired file content from the
  current one, never touching other entries or unknown top-level keys;
* ``configs_equal()`` is the idempotency predicate (structure, not bytes);
* ``dump_config()`` renders kubectl's layout; ``diff_texts()`` prepares a diff that
  never contains private keys or tokens; ``secret_values()`` feeds ``no_log_values``.
"""

from __future__ import annotations

import base64
import copy
import datetime
import hashlib
import os
import re
import traceback
import typing as t
from urllib.parse import urlsplit

from ansible_collections.kubebin.cluster.plugins.module_utils._common import (
    FieldError,
    is_issued_by,
    key_matches_cert,
    not_after,
    read_file,
    write_atomic,
)

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None


# kubectl writes the top-level keys in this (alphabetical) order; unknown keys follow.
TOP_LEVEL_ORDER = ("apiVersion", "clusters", "contexts", "current-context", "kind", "preferences", "users")
LIST_KEYS = ("clusters", "contexts", "users")
# User fields that are secret: never shown in a diff, always added to no_log_values.
SECRET_USER_FIELDS = ("client-key-data", "token", "password")
# Public but long: shown in a diff as a short fingerprint.
FINGERPRINTED_FIELDS = ("client-certificate-data", "certificate-authority-data")
REDACTED = "REDACTED"
PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)

Config = t.Dict[str, t.Any]


class KubeconfigError(FieldError):
    """A user error; ``field`` names the module option that caused it."""


class Material(t.NamedTuple):
    """Validated inputs, as bytes ready to embed."""

    server: str
    ca_pem: bytes
    client_cert_pem: bytes | None
    client_key_pem: bytes | None
    token: str | None
    warnings: t.List[str]


# --------------------------------------------------------------------------- inputs


def validate_server(server: str | None) -> str:
    """Return ``server`` if it is an https URL with a host, else raise naming ``server``."""
    if not server:
        raise KubeconfigError("server", "is required when state=present")
    if any(c.isspace() for c in server):
        raise KubeconfigError("server", f"{server!r} is not a valid URL (contains whitespace)")
    try:
        parts = urlsplit(server)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise KubeconfigError("server", f"{server!r} is not a valid URL: {exc}") from None
    if parts.scheme != "https":
        raise KubeconfigError("server", f"{server!r} must be an https:// URL (the API server is only served over TLS)")
    if not parts.hostname:
        raise KubeconfigError("server", f"{server!r} has no host")
    if port == 0:
        raise KubeconfigError("server", f"{server!r} has an invalid port 0")
    if parts.query or parts.fragment:
        raise KubeconfigError("server", f"{server!r} must not have a query or fragment")
    return server


def _content(field: str, content: str | bytes) -> bytes:
    data = content.encode("utf-8") if isinstance(content, str) else content
    if not data.strip():
        raise KubeconfigError(field, "is empty")
    return data


def load_certificates(field: str, pem: bytes) -> t.List[t.Any]:
    """Parse every PEM certificate in ``pem`` (a bundle is allowed); at least one is required."""
    blocks = PEM_CERT_RE.findall(pem)
    if not blocks:
        raise KubeconfigError(field, "does not contain a PEM certificate (-----BEGIN CERTIFICATE-----)")
    certs = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError as exc:
            raise KubeconfigError(field, f"contains a corrupt PEM certificate: {exc}") from None
    return certs


def load_private_key(field: str, pem: bytes) -> t.Any:
    """Parse an unencrypted PEM private key."""
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise KubeconfigError(field, "is an encrypted private key; kubeconfig needs an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KubeconfigError(field, f"is not a valid PEM private key ({type(exc).__name__})") from None


def _expiry_warnings(field: str, cert: t.Any, now: datetime.datetime) -> t.List[str]:
    if not_after(cert) < now:
        return [f"{field}: the certificate {cert.subject.rfc4514_string()} expired on {not_after(cert).isoformat()}"]
    return []


def _pick(params: t.Mapping[str, t.Any], path_field: str, content_field: str) -> t.Tuple[str, bytes] | None:
    """Return (field name to blame, bytes) from a path option or its ``*_content`` twin."""
    if params.get(path_field):
        return path_field, read_file(params[path_field], path_field, KubeconfigError)
    if params.get(content_field) is not None:
        return content_field, _content(content_field, params[content_field])
    return None


def load_material(params: t.Mapping[str, t.Any], now: datetime.datetime | None = None) -> Material:
    """Read and validate everything ``state=present`` embeds. Raises ``KubeconfigError``."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    server = validate_server(params.get("server"))

    ca = _pick(params, "ca_cert", "ca_cert_content")
    if ca is None:
        raise KubeconfigError("ca_cert", "one of ca_cert or ca_cert_content is required when state=present")
    ca_field, ca_pem = ca
    ca_certs = load_certificates(ca_field, ca_pem)
    warnings = _expiry_warnings(ca_field, ca_certs[0], now)

    token = params.get("token")
    cert = _pick(params, "client_cert", "client_cert_content")
    key = _pick(params, "client_key", "client_key_content")
    if token is not None:
        if cert or key:
            raise KubeconfigError("token", "is mutually exclusive with client_cert/client_key")
        if not token or any(c.isspace() for c in token):
            raise KubeconfigError("token", "must be a non-empty string without whitespace")
        return Material(server, ca_pem, None, None, token, warnings)
    if cert is None:
        raise KubeconfigError("client_cert", "one of token or client_cert (with client_key) is required when state=present")
    if key is None:
        raise KubeconfigError("client_key", "is required with client_cert (or use client_key_content)")

    cert_field, cert_pem = cert
    key_field, key_pem = key
    client_cert = load_certificates(cert_field, cert_pem)[0]
    if not any(is_issued_by(client_cert, ca_cert) for ca_cert in ca_certs):
        raise KubeconfigError(
            cert_field,
            f"the certificate {client_cert.subject.rfc4514_string()} (issuer {client_cert.issuer.rfc4514_string()}) "
            f"is not signed by the CA in {ca_field} ({ca_certs[0].subject.rfc4514_string()})",
        )
    private_key = load_private_key(key_field, key_pem)
    if not key_matches_cert(private_key, client_cert):
        raise KubeconfigError(key_field, f"does not match the public key of the certificate in {cert_field}")
    warnings += _expiry_warnings(cert_field, client_cert, now)
    return Material(server, ca_pem, cert_pem, key_pem, None, warnings)


# --------------------------------------------------------------------------- entries


def default_context_name(user: str | None, cluster: str, context: str | None) -> str | None:
    """kubeadm's convention: ``<user>@<cluster>`` (``kubernetes-admin@kubernetes``)."""
    if context:
        return context
    return f"{user}@{cluster}" if user else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_entries(cluster: str, user: str, context: str, namespace: str | None, material: Material) -> t.Tuple[Config, Config, Config]:
    """The cluster, user and context list items, as kubectl writes them."""
    cluster_entry = {
        "cluster": {"certificate-authority-data": _b64(material.ca_pem), "server": material.server},
        "name": cluster,
    }
    if material.token is not None:
        credentials: Config = {"token": material.token}
    elif material.client_cert_pem is not None and material.client_key_pem is not None:
        credentials = {
            "client-certificate-data": _b64(material.client_cert_pem),
            "client-key-data": _b64(material.client_key_pem),
        }
    else:
        raise KubeconfigError("client_cert", "one of token or client_cert (with client_key) is required")
    user_entry = {"name": user, "user": credentials}
    context_body: Config = {"cluster": cluster, "user": user}
    if namespace:
        context_body["namespace"] = namespace
    context_entry = {"context": context_body, "name": context}
    return cluster_entry, user_entry, context_entry


# --------------------------------------------------------------------------- file content


def new_config() -> Config:
    """What a brand-new kubeconfig starts as."""
    return {
        "apiVersion": "v1",
        "clusters": [],
        "contexts": [],
        "current-context": "",
        "kind": "Config",
        "preferences": {},
        "users": [],
    }


def parse_config(text: str | bytes | None, field: str = "path") -> Config | None:
    """Parse an existing kubeconfig; None when there is no file, {} when it is empty."""
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(field, f"the existing file is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(field, "the existing file is not a kubeconfig (top level is not a mapping)")
    for key in LIST_KEYS:
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(item, dict) for item in value)):
            raise KubeconfigError(field, f"the existing file is not a kubeconfig ({key!r} is not a list of mappings)")
    return data


def normalize(config: Config | None) -> Config | None:
    """Fill kubectl's defaults so ``clusters: null`` equals ``clusters: []`` and so on."""
    return None if config is None else _normalized(config)


def _normalized(config: Config) -> Config:
    result = dict(config)
    for key in LIST_KEYS:
        if result.get(key) is None:
            result[key] = []
    if result.get("current-context") is None:
        result["current-context"] = ""
    if result.get("preferences") is None:
        result["preferences"] = {}
    result.setdefault("apiVersion", "v1")
    result.setdefault("kind", "Config")
    return result


def configs_equal(before: Config | None, after: Config | None) -> bool:
    """The idempotency predicate: same structure (key order and formatting do not matter)."""
    return normalize(before) == normalize(after)


def _upsert(items: t.List[Config], entry: Config) -> t.List[Config]:
    """Replace the item with the entry's name in place, or append it."""
    result = []
    replaced = False
    for item in items:
        if item.get("name") == entry["name"]:
            if not replaced:
                result.append(entry)
                replaced = True
            continue  # drop duplicates of the same name, as kubectl would on load
        result.append(item)
    if not replaced:
        result.append(entry)
    return result


def merge_present(current: Config | None, entries: t.Tuple[Config, Config, Config], set_current: bool) -> Config:
    """Add or replace one cluster, user and context; everything else is kept as it is."""
    config = _normalized(copy.deepcopy(current)) if current is not None else new_config()
    cluster_entry, user_entry, context_entry = entries
    config["clusters"] = _upsert(config["clusters"], cluster_entry)
    config["users"] = _upsert(config["users"], user_entry)
    config["contexts"] = _upsert(config["contexts"], context_entry)
    if set_current:
        config["current-context"] = context_entry["name"]
    return config


def merge_absent(current: Config | None, cluster: str, user: str | None, context: str | None) -> t.Tuple[Config | None, t.List[str]]:
    """Remove one context, then its cluster and user unless another context still uses them.

    Returns the new content (None when there is no file) and warnings for kept entries.
    """
    if current is None:
        return None, []
    config = _normalized(copy.deepcopy(current))
    config["contexts"] = [item for item in config["contexts"] if item.get("name") != context]
    if context and config["current-context"] == context:
        config["current-context"] = ""
    warnings = []
    still_used: t.Dict[str, t.Set[str]] = {"cluster": set(), "user": set()}
    for item in config["contexts"]:
        body = item.get("context") or {}
        for ref in ("cluster", "user"):
            if body.get(ref):
                still_used[ref].add(body[ref])
    for ref, list_key, name in (("cluster", "clusters", cluster), ("user", "users", user)):
        if not name or not any(item.get("name") == name for item in config[list_key]):
            continue
        if name in still_used[ref]:
            warnings.append(f"{ref} {name!r} is kept: another context still refers to it")
            continue
        config[list_key] = [item for item in config[list_key] if item.get("name") != name]
    return config, warnings


def order_config(config: Config) -> Config:
    """kubectl's top-level order, then any unknown keys (e.g. ``extensions``) sorted."""
    ordered = {key: config[key] for key in TOP_LEVEL_ORDER if key in config}
    for key in sorted(k for k in config if k not in ordered):
        ordered[key] = config[key]
    return ordered


def dump_config(config: Config) -> str:
    """Deterministic YAML; entries keep kubectl's (alphabetical) key order, no line folding."""
    ordered = order_config(config)
    # Nested mappings are sorted (kubectl's order is alphabetical); top level keeps TOP_LEVEL_ORDER.
    parts = []
    for key, value in ordered.items():
        parts.append(yaml.safe_dump({key: value}, default_flow_style=False, sort_keys=True, width=2 ** 30, allow_unicode=True))
    return "".join(parts)


# --------------------------------------------------------------------------- secrets


def secret_values(config: Config | None) -> t.List[str]:
    """Every secret in a kubeconfig (for ``module.no_log_values``)."""
    values = []
    for item in (normalize(config) or {}).get("users", []):
        body = item.get("user") or {}
        for field in SECRET_USER_FIELDS:
            value = body.get(field)
            if isinstance(value, str) and value:
                values.append(value)
                if field == "client-key-data":
                    try:
                        values.append(base64.b64decode(value).decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        pass
    return values


def _fingerprint(value: t.Any) -> str:
    digest = hashlib.sha256(str(value).encode("utf-8")).hexdigest()[:16]
    return f"{REDACTED} (sha256:{digest})"


def redact_config(config: Config | None, previous: Config | None = None) -> Config | None:
    """A copy safe to show: secrets become ``REDACTED``, certificates a short fingerprint.

    Given ``previous`` (the "before" side of a diff), a secret that differs from the same
    user's previous one reads ``REDACTED (changed)``, so a key rotation stays visible.
    """
    if config is None:
        return None
    redacted = copy.deepcopy(config)
    previous_users: t.Dict[t.Any, Config] = {}
    for item in (normalize(previous) or {}).get("users", []):
        previous_users[item.get("name")] = item.get("user") or {}
    for item in redacted.get("users") or []:
        body = item.get("user")
        if not isinstance(body, dict):
            continue
        before = previous_users.get(item.get("name"), {})
        for field in SECRET_USER_FIELDS:
            if field in body:
                changed = previous is not None and before.get(field) != body[field]
                body[field] = f"{REDACTED} (changed)" if changed else REDACTED
        for field in FINGERPRINTED_FIELDS:
            if field in body:
                body[field] = _fingerprint(body[field])
    for item in redacted.get("clusters") or []:
        body = item.get("cluster")
        if isinstance(body, dict) and "certificate-authority-data" in body:
            body["certificate-authority-data"] = _fingerprint(body["certificate-authority-data"])
    return redacted


def diff_texts(before: Config | None, after: Config | None) -> t.Dict[str, str]:
    """``{before, after}`` YAML texts for Ansible's diff, with secrets redacted."""
    before_redacted = redact_config(before)
    after_redacted = redact_config(after, before)
    return {
        "before": "" if before_redacted is None else dump_config(before_redacted),
        "after": "" if after_redacted is None else dump_config(after_redacted),
    }


# --------------------------------------------------------------------------- plan


class Plan(t.NamedTuple):
    """What the module will do: ``after`` is None when there is and will be no file."""

    before: Config | None
    after: Config | None
    context: str | None
    warnings: t.List[str]

    @property
    def content_changed(self) -> bool:
        return not configs_equal(self.before, self.after)


def _name(params: t.Mapping[str, t.Any], field: str) -> str | None:
    value = params.get(field)
    if value is not None and not str(value).strip():
        raise KubeconfigError(field, "must not be empty")
    return value


def plan(params: t.Mapping[str, t.Any], existing: str | bytes | None) -> Plan:
    """Validate the options and compute the new content from the existing file text."""
    cluster = _name(params, "cluster")
    if cluster is None:
        raise KubeconfigError("cluster", "is required")
    user = _name(params, "user")
    context = default_context_name(user, cluster, _name(params, "context"))
    before = parse_config(existing)
    if params.get("state", "present") == "absent":
        after, warnings = merge_absent(before, cluster, user, context)
        return Plan(before, after, context, warnings)
    if user is None:
        raise KubeconfigError("user", "is required when state=present")
    context = context or f"{user}@{cluster}"
    material = load_material(params)
    entries = build_entries(cluster, user, context, params.get("namespace"), material)
    after = merge_present(before, entries, bool(params.get("current_context", True)))
    return Plan(before, after, context, material.warnings)


# --------------------------------------------------------------------------- file I/O


def read_existing(path: str) -> bytes | None:
    """The current file's bytes, or None when it does not exist (its directory must)."""
    if not os.path.lexists(path):
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise KubeconfigError("path", f"the directory {directory} does not exist")
        return None
    if os.path.isdir(path):
        raise KubeconfigError("path", f"{path} is a directory")
    return read_file(path, "path", KubeconfigError)


def write_atomically(module: t.Any, path: str, text: str, mode: t.Any = None) -> None:
    """Write ``text`` to ``path`` atomically (``_common.write_atomic``).

    The temporary file is created 0600 and, before it is renamed, gets ``mode`` (octal or
    symbolic; default the module's ``mode`` option) and, under SELinux, the context of the file it replaces,
    so the secrets are never readable by others, not even for a moment.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise KubeconfigError("path", f"the directory {directory} does not exist")

    def prepare(tmp: str) -> None:
        module.set_mode_if_different(tmp, mode if mode is not None else module.params.get("mode"), False)
        if os.path.exists(path) and module.selinux_enabled():
            module.set_context_if_different(tmp, module.selinux_context(path), False)

    write_atomic(path, text.encode("utf-8"), mode=None, prepare=prepare)
