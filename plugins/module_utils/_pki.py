# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private PKI helpers for kubebin.cluster (not a public API).

The logic of the ``cert_authority`` module lives here: spec validation, the
``needs_regeneration`` predicate, key and certificate generation, and atomic
writes. Everything is done with ``cryptography``; nothing shells out.

Flow: ``plan()`` reads and validates everything and decides what to do, without
writing; ``apply()`` executes the plan. Bad input therefore fails before any file
is touched.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import typing as t

from ansible_collections.kubebin.cluster.plugins.module_utils._common import (
    FieldError,
    is_issued_by,
    key_matches_cert,
    not_after,
    public_der,
    read_file,
    write_atomic,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by sanity import test
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc


KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "ecdsa-p256")
USAGES = ("server", "client", "peer")
DEFAULT_CAS = (
    {"name": "ca", "common_name": "kubernetes-ca"},
    {"name": "etcd-ca", "common_name": "etcd-ca"},
    {"name": "front-proxy-ca", "common_name": "kubernetes-front-proxy-ca"},
)
# The defaults of cert_authority's options, in one place: the module's argument_spec takes
# them from here, and plan() fills them in for a caller that leaves an option out.
OPTION_DEFAULTS: dict[str, t.Any] = {
    "shared_ca": False,
    "ca_key_type": "rsa2048",
    "ca_validity_days": 3650,  # 10 years, as kubeadm
    "certificates": [],
    "key_type": "rsa2048",
    "validity_days": 365,  # 1 year, as kubeadm
    "renew_before_days": 30,
    "service_account_key": True,
    "service_account_key_name": "sa",
    "service_account_key_type": "rsa2048",
    "force_ca": False,
    "force_renew": [],
}
CLOCK_SKEW = datetime.timedelta(minutes=5)
CERT_MODE = 0o644
KEY_MODE = 0o600
DIR_MODE = 0o700


class PKIError(FieldError):
    """A user-facing error; ``field`` names the option or file at fault."""


# --------------------------------------------------------------------------- specs


class CASpec(t.NamedTuple):
    name: str
    common_name: str
    organization: tuple[str, ...]
    key_type: str
    validity_days: int


class CertSpec(t.NamedTuple):
    name: str
    ca: str
    common_name: str
    organization: tuple[str, ...]
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]  # normalised (compressed) text form
    usages: tuple[str, ...]
    key_type: str
    validity_days: int
    renew_before_days: int


def _req_str(value: t.Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PKIError(field, "must be a non-empty string")
    return value.strip()


def _str_list(value: t.Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PKIError(field, "must be a list of strings")
    out = []
    for i, item in enumerate(value):
        out.append(_req_str(item, f"{field}[{i}]"))
    return tuple(out)


def _key_type(value: t.Any, field: str) -> str:
    if value not in KEY_TYPES:
        raise PKIError(field, f"unknown key type {value!r}; expected one of {', '.join(KEY_TYPES)}")
    return value


def _positive_int(value: t.Any, field: str, allow_zero: bool = False) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PKIError(field, f"must be an integer, got {value!r}") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise PKIError(field, f"must be {'>= 0' if allow_zero else '> 0'}, got {number}")
    return number


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _file_name(value: t.Any, field: str) -> str:
    name = _req_str(value, field)
    if not set(name) <= _NAME_CHARS or name.startswith("."):
        raise PKIError(field, f"{name!r} is not a valid file name (letters, digits, '-', '_', '.')")
    return name


def parse_ca_specs(raw: list[dict] | None, shared_ca: bool, defaults: dict) -> list[CASpec]:
    """Validate the ``cas`` option (or build the default set)."""
    if raw is None:
        raw = [dict(DEFAULT_CAS[0])] if shared_ca else [dict(c) for c in DEFAULT_CAS]
    elif shared_ca and len(raw) != 1:
        raise PKIError("cas", "shared_ca=true takes exactly one CA")
    if not raw:
        raise PKIError("cas", "at least one CA is required")
    specs: list[CASpec] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        field = f"cas[{i}]"
        if not isinstance(item, dict):
            raise PKIError(field, "must be a dictionary")
        name = _file_name(item.get("name"), f"{field}.name")
        if name in seen:
            raise PKIError(f"{field}.name", f"duplicate CA name {name!r}")
        seen.add(name)
        specs.append(CASpec(
            name=name,
            common_name=_req_str(item.get("common_name"), f"{field}.common_name"),
            organization=_str_list(item.get("organization"), f"{field}.organization"),
            key_type=_key_type(item.get("key_type") or defaults["ca_key_type"], f"{field}.key_type"),
            validity_days=_positive_int(item.get("validity_days") or defaults["ca_validity_days"],
                                        f"{field}.validity_days"),
        ))
    return specs


def parse_cert_specs(raw: list[dict], ca_names: t.Sequence[str], shared_ca: bool,
                     defaults: dict) -> list[CertSpec]:
    """Validate the ``certificates`` option."""
    specs: list[CertSpec] = []
    seen: set[str] = set(ca_names)
    for i, item in enumerate(raw or []):
        field = f"certificates[{i}]"
        if not isinstance(item, dict):
            raise PKIError(field, "must be a dictionary")
        name = _file_name(item.get("name"), f"{field}.name")
        field = f"certificates[{i}] ({name})"
        if name in seen:
            raise PKIError(f"{field}.name", f"duplicate name {name!r} (names must differ from each other and from CA names)")
        if name == defaults.get("service_account_name"):
            raise PKIError(f"{field}.name", f"{name!r} is the service-account key pair's name")
        seen.add(name)
        ca = item.get("ca") or ca_names[0]
        if shared_ca:
            ca = ca_names[0]  # one CA signs everything, whatever the spec says
        elif ca not in ca_names:
            raise PKIError(f"{field}.ca", f"unknown CA {ca!r}; defined CAs: {', '.join(ca_names)}")
        usages = _str_list(item.get("usages") or ["client"], f"{field}.usages")
        for usage in usages:
            if usage not in USAGES:
                raise PKIError(f"{field}.usages", f"unknown usage {usage!r}; expected any of {', '.join(USAGES)}")
        ips = []
        for j, ip in enumerate(_str_list(item.get("ip_addresses"), f"{field}.ip_addresses")):
            try:
                ips.append(str(ipaddress.ip_address(ip)))
            except ValueError:
                raise PKIError(f"{field}.ip_addresses[{j}]", f"{ip!r} is not a valid IPv4 or IPv6 address") from None
        dns = _str_list(item.get("dns_names"), f"{field}.dns_names")
        for j, host in enumerate(dns):
            if any(c.isspace() for c in host) or "/" in host:
                raise PKIError(f"{field}.dns_names[{j}]", f"{host!r} is not a valid DNS name")
        renew = item.get("renew_before_days")
        specs.append(CertSpec(
            name=name,
            ca=ca,
            common_name=_req_str(item.get("common_name"), f"{field}.common_name"),
            organization=_str_list(item.get("organization"), f"{field}.organization"),
            dns_names=tuple(dict.fromkeys(dns)),
            ip_addresses=tuple(dict.fromkeys(ips)),
            usages=tuple(sorted(set(usages))),
            key_type=_key_type(item.get("key_type") or defaults["key_type"], f"{field}.key_type"),
            validity_days=_positive_int(item.get("validity_days") or defaults["validity_days"],
                                        f"{field}.validity_days"),
            renew_before_days=_positive_int(defaults["renew_before_days"] if renew is None else renew,
                                            f"{field}.renew_before_days", allow_zero=True),
        ))
    return specs


# ------------------------------------------------------------------- file helpers


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def load_cert(path: str, field: str) -> "x509.Certificate | None":
    data = read_file(path, field, PKIError, missing_ok=True)
    if data is None:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PKIError(field, f"{path} is not a PEM certificate (corrupt file?)") from None


def load_key(path: str, field: str, validate: bool = False):
    """Load a private key. ``validate`` runs the RSA consistency check (~0.1 s a key):

    a no-op run only compares public halves, so it skips the check; a CA key is
    loaded again with it before it signs anything.
    """
    data = read_file(path, field, PKIError, missing_ok=True)
    if data is None:
        return None
    try:
        return serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=not validate)
    except (ValueError, TypeError):
        raise PKIError(field, f"{path} is not an unencrypted PEM private key (corrupt file?)") from None


# ---------------------------------------------------------------- key handling


def generate_key(key_type: str):
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))


def key_type_of(key) -> str:
    """Our key type name for a private or public key ('rsa2048', 'ecdsa-p256', ...)."""
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa{key.key_size}"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ecdsa-p256" if isinstance(key.curve, ec.SECP256R1) else f"ecdsa-{key.curve.name}"
    return type(key).__name__


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL
                             if isinstance(key, rsa.RSAPrivateKey) else serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------- cert contents


def _name(common_name: str, organization: t.Sequence[str]):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organization]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def subject_of(cert) -> tuple[str, tuple[str, ...]]:
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (cns[0].value if cns else "", tuple(sorted(str(o.value) for o in orgs)))


def sans_of(cert) -> tuple[set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(ext.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)})


def usages_of(cert) -> tuple[str, ...]:
    try:
        ekus = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return ()
    server = ExtendedKeyUsageOID.SERVER_AUTH in ekus
    client = ExtendedKeyUsageOID.CLIENT_AUTH in ekus
    return _usage_names(server, client)


def _usage_names(server: bool, client: bool) -> tuple[str, ...]:
    return tuple(name for name, on in (("client", client), ("server", server)) if on)


def wanted_usages(spec: CertSpec) -> tuple[str, ...]:
    server = "server" in spec.usages or "peer" in spec.usages
    client = "client" in spec.usages or "peer" in spec.usages
    return _usage_names(server, client)


def _builder(subject, issuer, public_key, validity_days: int, ca: bool, key_encipherment: bool = False):
    """The parts every certificate here shares: names, key, a random serial, validity from
    CLOCK_SKEW before now, basic constraints and key usage (critical)."""
    start = now() - CLOCK_SKEW
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + CLOCK_SKEW + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                     crl_sign=ca, encipher_only=False, decipher_only=False), critical=True)
    )


def build_ca_cert(spec: CASpec, key):
    name = _name(spec.common_name, spec.organization)
    builder = _builder(name, name, key.public_key(), spec.validity_days, ca=True).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder.sign(key, hashes.SHA256())


def build_leaf_cert(spec: CertSpec, key, ca_cert, ca_key):
    usages = wanted_usages(spec)
    ekus = []
    if "server" in usages:
        ekus.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if "client" in usages:
        ekus.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        _builder(_name(spec.common_name, spec.organization), ca_cert.subject, key.public_key(), spec.validity_days,
                 ca=False, key_encipherment=isinstance(key, rsa.RSAPrivateKey))
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list = [x509.DNSName(d) for d in spec.dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


# ------------------------------------------------------------------ predicates


def needs_regeneration(spec: CertSpec, cert, key, ca_cert, at: datetime.datetime) -> str | None:
    """Why the leaf described by ``spec`` must be (re)issued, or None if it is fine.

    ``cert``/``key`` are the files on disk (None when missing); ``ca_cert`` the
    issuing CA's certificate as it will be after this run.
    """
    if cert is None and key is None:
        return "missing"
    if cert is None:
        return "certificate file missing"
    if key is None:
        return "key file missing"
    if not key_matches_cert(key, cert):
        return "key does not match certificate"
    if key_type_of(key) != spec.key_type:
        return f"key type is {key_type_of(key)}, want {spec.key_type}"
    if ca_cert is None or not is_issued_by(cert, ca_cert):
        return f"not signed by the current CA {spec.ca!r}"
    if subject_of(cert) != (spec.common_name, tuple(sorted(spec.organization))):
        return "subject changed"
    have_dns, have_ips = sans_of(cert)
    want_dns, want_ips = set(spec.dns_names), set(spec.ip_addresses)
    if (have_dns, have_ips) != (want_dns, want_ips):
        added = sorted((want_dns - have_dns) | (want_ips - have_ips))
        removed = sorted((have_dns - want_dns) | (have_ips - want_ips))
        parts = ([f"added {', '.join(added)}"] if added else []) + ([f"removed {', '.join(removed)}"] if removed else [])
        return f"SANs changed ({'; '.join(parts)})"
    if usages_of(cert) != wanted_usages(spec):
        return f"usages changed ({', '.join(usages_of(cert)) or 'none'} -> {', '.join(wanted_usages(spec))})"
    left = not_after(cert) - at
    if left <= datetime.timedelta(days=spec.renew_before_days):
        days = left.days
        return "expired" if left.total_seconds() <= 0 else f"expires in {days} days (renew_before_days={spec.renew_before_days})"
    return None


def cert_summary(cert) -> dict:
    dns, ips = sans_of(cert)
    cn, orgs = subject_of(cert)
    return {
        "common_name": cn,
        "organization": list(orgs),
        "dns_names": sorted(dns),
        "ip_addresses": sorted(ips),
        "usages": list(usages_of(cert)),
        "key_type": key_type_of(cert.public_key()),
        "serial": format(cert.serial_number, "x"),
        "not_after": not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issuer": cert.issuer.rfc4514_string(),
    }


def spec_summary(spec: CertSpec) -> dict:
    return {
        "common_name": spec.common_name,
        "organization": sorted(spec.organization),
        "dns_names": sorted(spec.dns_names),
        "ip_addresses": sorted(spec.ip_addresses),
        "usages": list(wanted_usages(spec)),
        "key_type": spec.key_type,
        "serial": "(new)",
        "not_after": f"(now + {spec.validity_days} days)",
        "issuer": f"(CA {spec.ca})",
    }


# ----------------------------------------------------------- plan and apply


class Item(t.NamedTuple):
    """One file pair the run manages (a CA, a leaf or the service-account key)."""

    kind: str  # 'ca', 'cert' or 'service_account'
    name: str
    cert_path: str  # the public part: certificate or public key
    key_path: str
    reason: str | None  # why it is (re)generated; None = kept
    spec: t.Any
    cert: t.Any  # current certificate / public key, or None
    key: t.Any  # current private key, or None


class Plan(t.NamedTuple):
    directory: str
    create_dir: bool
    fix_dir_mode: bool
    items: list[Item]
    mode_fixes: list[tuple[str, int]]
    warnings: list[str]


def _paths(directory: str, name: str, public_suffix: str = ".pem") -> tuple[str, str]:
    return os.path.join(directory, name + public_suffix), os.path.join(directory, name + "-key.pem")


def _load_public(path: str, field: str):
    data = read_file(path, field, PKIError, missing_ok=True)
    if data is None:
        return None
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        raise PKIError(field, f"{path} is not a PEM public key (corrupt file?)") from None


def plan(params: dict, at: datetime.datetime | None = None) -> Plan:
    """Read and validate everything, decide what to do; write nothing."""
    at = at or now()
    directory = params.get("path")
    if not directory:
        raise PKIError("path", "must be set")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise PKIError("path", f"{directory} exists and is not a directory")
    opts = dict(OPTION_DEFAULTS)
    opts.update((name, value) for name, value in params.items() if value is not None)
    shared = bool(opts["shared_ca"])
    defaults = {
        "ca_key_type": _key_type(opts["ca_key_type"], "ca_key_type"),
        "ca_validity_days": _positive_int(opts["ca_validity_days"], "ca_validity_days"),
        "key_type": _key_type(opts["key_type"], "key_type"),
        "validity_days": _positive_int(opts["validity_days"], "validity_days"),
        "renew_before_days": _positive_int(opts["renew_before_days"], "renew_before_days", allow_zero=True),
        "service_account_name": opts["service_account_key_name"] if opts["service_account_key"] else None,
    }
    ca_specs = parse_ca_specs(opts.get("cas"), shared, defaults)
    cert_specs = parse_cert_specs(opts["certificates"], [c.name for c in ca_specs], shared, defaults)
    force_renew = set(_str_list(opts["force_renew"], "force_renew"))
    unknown = force_renew - {c.name for c in cert_specs}
    if unknown:
        raise PKIError("force_renew", f"names no certificate in this call: {', '.join(sorted(unknown))}")
    sa_name = defaults["service_account_name"]
    if sa_name is not None:
        sa_name = _file_name(sa_name, "service_account_key_name")
        if sa_name in {c.name for c in ca_specs}:
            raise PKIError("service_account_key_name", f"{sa_name!r} is also a CA name")
    sa_key_type = _key_type(opts["service_account_key_type"], "service_account_key_type")

    items: list[Item] = []
    mode_fixes: list[tuple[str, int]] = []
    warnings: list[str] = []
    ca_after: dict[str, tuple[t.Any, datetime.datetime]] = {}  # name -> (cert or None if new, not_after)

    def note_modes(cert_path: str, key_path: str) -> None:
        for path, mode in ((cert_path, CERT_MODE), (key_path, KEY_MODE)):
            if os.path.exists(path) and os.stat(path).st_mode & 0o7777 != mode:
                mode_fixes.append((path, mode))

    for spec in ca_specs:
        cert_path, key_path = _paths(directory, spec.name)
        field = f"CA {spec.name}"
        cert = load_cert(cert_path, field)
        key = load_key(key_path, field)
        reason = None
        if opts["force_ca"]:
            reason = "force_ca=true" if (cert or key) else "missing"
        elif cert is None and key is None:
            reason = "missing"
        elif cert is None or key is None:
            missing, present = (cert_path, key_path) if cert is None else (key_path, cert_path)
            raise PKIError(field, f"{missing} is missing but {present} exists; refusing to regenerate the CA "
                                  "(restore the file, or set force_ca=true to replace the CA and every certificate it signed)")
        else:
            if not key_matches_cert(key, cert):
                raise PKIError(field, f"the key {key_path} does not match the certificate {cert_path}; refusing to use this CA")
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise PKIError(field, f"{cert_path} is not a CA certificate (basicConstraints CA:TRUE missing)")
            if subject_of(cert) != (spec.common_name, tuple(sorted(spec.organization))):
                warnings.append(f"CA {spec.name}: subject differs from the spec; the existing CA is kept "
                                "(a CA is never regenerated without force_ca=true)")
            if not_after(cert) - at <= datetime.timedelta(days=defaults["renew_before_days"]):
                warnings.append(f"CA {spec.name} expires on {not_after(cert):%Y-%m-%d}; plan a CA rotation")
            note_modes(cert_path, key_path)
        if reason:
            ca_after[spec.name] = (None, at + datetime.timedelta(days=spec.validity_days))
        else:
            ca_after[spec.name] = (cert, not_after(cert))
        items.append(Item("ca", spec.name, cert_path, key_path, reason, spec, cert, key))

    if sa_name is not None:
        pub_path, key_path = _paths(directory, sa_name, ".pub")
        field = "service-account key pair"
        key = load_key(key_path, field)
        pub = _load_public(pub_path, field)
        reason = None
        if key is None:
            reason = "missing" if pub is None else "private key missing"
        elif pub is None:
            reason = "public key missing"
        elif public_der(key.public_key()) != public_der(pub):
            reason = "public key does not match the private key"
        elif key_type_of(key) != sa_key_type:
            warnings.append(f"service-account key is {key_type_of(key)}, not {sa_key_type}; it is kept, since a "
                            "new key invalidates every service-account token (delete it to rotate)")
        if reason in ("public key missing", "public key does not match the private key"):
            reason = reason + " (derived from the private key)"
        if reason is None or key is not None:
            note_modes(pub_path, key_path)
        items.append(Item("service_account", sa_name, pub_path, key_path, reason, sa_key_type, pub, key))

    for index, spec in enumerate(cert_specs):
        cert_path, key_path = _paths(directory, spec.name)
        field = f"certificates[{index}] ({spec.name})"
        cert = load_cert(cert_path, field)
        key = load_key(key_path, field)
        ca_cert, ca_not_after = ca_after[spec.ca]
        reason = needs_regeneration(spec, cert, key, ca_cert, at)
        if reason is None and spec.name in force_renew:
            reason = "force_renew"
        if reason is None:
            note_modes(cert_path, key_path)
        elif at + datetime.timedelta(days=spec.validity_days) > ca_not_after:
            raise PKIError(f"{field}.validity_days",
                           f"{spec.validity_days} days would outlive CA {spec.ca!r}, which expires on "
                           f"{ca_not_after:%Y-%m-%d}; shorten validity_days or renew the CA")
        items.append(Item("cert", spec.name, cert_path, key_path, reason, spec, cert, key))

    create_dir = not os.path.isdir(directory)
    fix_dir = not create_dir and os.stat(directory).st_mode & 0o7777 != DIR_MODE
    return Plan(directory, create_dir, fix_dir, items, mode_fixes, warnings)


def _result(item: Item, cert, changed: bool, reason: str | None) -> dict:
    out = {
        "path": item.cert_path,
        "key_path": item.key_path,
        "changed": changed,
        "reason": reason,
        "serial": None,
        "not_after": None,
    }
    if cert is not None and item.kind != "service_account":
        out["serial"] = format(cert.serial_number, "x")
        out["not_after"] = not_after(cert).strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def apply(p: Plan, check_mode: bool) -> dict:
    """Carry out ``p``; in check mode only report. Returns the module result."""
    if not check_mode:
        if p.create_dir:
            os.makedirs(p.directory, mode=DIR_MODE)
            os.chmod(p.directory, DIR_MODE)
        elif p.fix_dir_mode:
            os.chmod(p.directory, DIR_MODE)
    mode_fixed = {path for path, _mode in p.mode_fixes}
    if not check_mode:
        for path, mode in p.mode_fixes:
            os.chmod(path, mode)

    cas: dict[str, tuple] = {}  # name -> (cert, key) after this run (None in check mode when new)
    validated: set[str] = set()  # CAs whose key passed the full consistency check (or that are new)
    results: dict[str, dict] = {"cas": {}, "certificates": {}, "service_account": {}}
    before: dict[str, dict] = {}
    after: dict[str, dict] = {}
    for item in p.items:
        reason = item.reason
        cert, key = item.cert, item.key
        if reason is not None:
            if item.kind == "ca":
                if not check_mode:
                    key = generate_key(item.spec.key_type)
                    cert = build_ca_cert(item.spec, key)
                    validated.add(item.name)
                    write_atomic(item.key_path, key_pem(key), KEY_MODE)
                    write_atomic(item.cert_path, cert_pem(cert), CERT_MODE)
                else:
                    cert = key = None
            elif item.kind == "service_account":
                if not check_mode:
                    if key is None:
                        key = generate_key(item.spec)
                        write_atomic(item.key_path, key_pem(key), KEY_MODE)
                    cert = key.public_key()
                    write_atomic(item.cert_path, cert.public_bytes(serialization.Encoding.PEM,
                                                                   serialization.PublicFormat.SubjectPublicKeyInfo),
                                 CERT_MODE)
            else:
                ca_cert, ca_key = cas[item.spec.ca]
                if not check_mode and item.spec.ca not in validated:
                    ca_key = load_key(next(i.key_path for i in p.items if i.kind == "ca" and i.name == item.spec.ca),
                                      f"CA {item.spec.ca}", validate=True)
                    cas[item.spec.ca] = (ca_cert, ca_key)
                    validated.add(item.spec.ca)
                if not check_mode:
                    key = generate_key(item.spec.key_type)
                    cert = build_leaf_cert(item.spec, key, ca_cert, ca_key)
                    write_atomic(item.key_path, key_pem(key), KEY_MODE)
                    write_atomic(item.cert_path, cert_pem(cert), CERT_MODE)
                else:
                    cert = key = None
        changed = reason is not None or item.cert_path in mode_fixed or item.key_path in mode_fixed
        if reason is None and changed:
            reason = "file mode corrected"
        if item.kind == "ca":
            cas[item.name] = (cert, key)
        group = {"ca": "cas", "cert": "certificates", "service_account": "service_account"}[item.kind]
        if item.kind == "service_account":
            results[group] = _result(item, None, changed, reason)
        else:
            results[group][item.name] = _result(item, cert, changed, reason)
        if item.reason is not None:
            label = f"{item.kind}/{item.name}"
            if item.kind == "service_account":
                before[label] = {"key_type": key_type_of(item.key)} if item.key is not None else None
                after[label] = {"key_type": item.spec}
            else:
                before[label] = cert_summary(item.cert) if item.cert is not None else None
                if cert is not None:
                    after[label] = cert_summary(cert)
                elif item.kind == "cert":
                    after[label] = spec_summary(item.spec)
                else:
                    after[label] = {"common_name": item.spec.common_name, "key_type": item.spec.key_type,
                                    "not_after": f"(now + {item.spec.validity_days} days)"}
            after[label]["reason"] = item.reason
    changed = (p.create_dir or p.fix_dir_mode or bool(p.mode_fixes)
               or any(i.reason is not None for i in p.items))
    results["changed"] = changed
    results["path"] = p.directory
    results["diff"] = {"before": before, "after": after}
    return results
