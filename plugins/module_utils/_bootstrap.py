# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: bootstrap tokens as kube-system Secrets (logic of ``bootstrap_token``).

``decide()`` is pure (existing Secrets + wanted spec + now -> what to do);
``run()`` drives a Secret service (``_k8s_client.SecretService`` or a fake).
"""

from __future__ import annotations

import base64
import datetime
import re
import secrets as pysecrets
import typing as t

from ansible_collections.kubebin.cluster.plugins.module_utils._common import FieldError

SECRET_TYPE = "bootstrap.kubernetes.io/token"
NAMESPACE = "kube-system"
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
ID_RE = re.compile(r"^[a-z0-9]{6}$")
GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
USAGES = ("authentication", "signing")
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubebin.cluster"}


class TokenError(FieldError):
    """A user-facing error; ``field`` names the option at fault."""


class Token(t.NamedTuple):
    token_id: str
    secret: str
    description: str
    expiration: datetime.datetime | None
    usages: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def value(self) -> str:
        return f"{self.token_id}.{self.secret}"

    def public(self) -> dict:
        return {"token_id": self.token_id, "description": self.description,
                "expiration": rfc3339(self.expiration) if self.expiration else None,
                "usages": list(self.usages), "groups": list(self.groups)}


class Want(t.NamedTuple):
    description: str
    usages: tuple[str, ...]
    groups: tuple[str, ...]
    ttl: datetime.timedelta | None  # None: never expires
    min_ttl: datetime.timedelta
    token: str | None  # an exact token to ensure, or None to reuse or generate


def parse_duration(value: str, field: str) -> datetime.timedelta | None:
    """'24h', '90m', '1d12h', '0' (no expiry) -> timedelta or None."""
    text = str(value).strip()
    if text in ("0", "0s"):
        return None
    match = DURATION_RE.match(text)
    if not text or not match or not any(match.groups()):
        raise TokenError(field, f"{value!r} is not a duration like 24h, 90m, 1d12h or 0")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return datetime.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_want(params: dict) -> Want:
    usages = tuple(sorted(set(params.get("usages") or ["authentication"])))
    for usage in usages:
        if usage not in USAGES:
            raise TokenError("usages", f"unknown usage {usage!r}; expected {', '.join(USAGES)}")
    groups = tuple(params.get("groups") or [])
    for i, group in enumerate(groups):
        if not GROUP_RE.match(group):
            raise TokenError(f"groups[{i}]",
                             f"{group!r} must match system:bootstrappers:<name> (lowercase letters, digits, ':' and '-')")
    token = params.get("token")
    if token is not None and not TOKEN_RE.match(token):
        raise TokenError("token", "is not of the form [a-z0-9]{6}.[a-z0-9]{16}")
    description = params.get("description") or ""
    if not description and token is None:
        raise TokenError("description", "must be set: it is how an existing token is found again")
    ttl = parse_duration(params.get("ttl", "24h"), "ttl")
    min_ttl = parse_duration(params.get("min_ttl", "1h"), "min_ttl") or datetime.timedelta(0)
    if ttl is not None and min_ttl >= ttl:
        raise TokenError("min_ttl", f"{params.get('min_ttl')} must be shorter than ttl {params.get('ttl')}")
    return Want(description, usages, tuple(sorted(set(groups))), ttl, min_ttl, token)


def _b64(data: dict, key: str) -> str:
    raw = data.get(key)
    return base64.b64decode(raw).decode() if raw else ""


def token_of(secret: dict) -> Token | None:
    """The Token a bootstrap-token Secret holds, or None when it is malformed."""
    data = secret.get("data") or {}
    try:
        token_id, token_secret = _b64(data, "token-id"), _b64(data, "token-secret")
        expiration_text = _b64(data, "expiration")
        expiration = (datetime.datetime.strptime(expiration_text, "%Y-%m-%dT%H:%M:%SZ")
                      .replace(tzinfo=datetime.timezone.utc) if expiration_text else None)
        usages = tuple(sorted(u for u in USAGES if _b64(data, f"usage-bootstrap-{u}") == "true"))
        groups = tuple(sorted(g for g in _b64(data, "auth-extra-groups").split(",") if g))
        description = _b64(data, "description")
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    if not ID_RE.match(token_id) or len(token_secret) != 16:
        return None
    return Token(token_id, token_secret, description, expiration, usages, groups)


class Plan(t.NamedTuple):
    reuse: Token | None
    create: Token | None
    delete: list[str]  # token ids of expired tokens (and of a token being replaced)


def decide(existing: list[Token], want: Want, at: datetime.datetime, cleanup_expired: bool,
           new_token: t.Callable[[], tuple[str, str]]) -> Plan:
    expired = [tok.token_id for tok in existing if tok.expiration is not None and tok.expiration <= at]
    delete = list(expired) if cleanup_expired else []
    live = [tok for tok in existing if tok.token_id not in expired]
    expiration = at + want.ttl if want.ttl is not None else None
    if want.token is not None:
        token_id, token_secret = want.token.split(".")
        current = next((tok for tok in live if tok.token_id == token_id), None)
        if (current is not None and current.secret == token_secret and current.usages == want.usages
                and current.groups == want.groups and current.description == want.description
                and (current.expiration is None or current.expiration - at > want.min_ttl)):
            return Plan(current, None, delete)
        if current is not None:
            delete.append(token_id)
        return Plan(None, Token(token_id, token_secret, want.description, expiration, want.usages, want.groups), delete)
    for tok in sorted(live, key=lambda x: x.expiration or datetime.datetime.max.replace(tzinfo=datetime.timezone.utc),
                      reverse=True):
        if (tok.description == want.description and tok.usages == want.usages and tok.groups == want.groups
                and (tok.expiration is None or tok.expiration - at > want.min_ttl)):
            return Plan(tok, None, delete)
    taken = {tok.token_id for tok in existing}
    token_id, token_secret = new_token()
    while token_id in taken:
        token_id, token_secret = new_token()
    return Plan(None, Token(token_id, token_secret, want.description, expiration, want.usages, want.groups), delete)


def generate() -> tuple[str, str]:
    return ("".join(pysecrets.choice(ALPHABET) for _char in range(6)),
            "".join(pysecrets.choice(ALPHABET) for _char in range(16)))


def secret_body(tok: Token) -> dict:
    string_data = {"token-id": tok.token_id, "token-secret": tok.secret, "description": tok.description}
    if tok.expiration is not None:
        string_data["expiration"] = rfc3339(tok.expiration)
    for usage in tok.usages:
        string_data[f"usage-bootstrap-{usage}"] = "true"
    if tok.groups:
        string_data["auth-extra-groups"] = ",".join(tok.groups)
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": f"bootstrap-token-{tok.token_id}", "namespace": NAMESPACE, "labels": dict(MANAGED_BY)},
            "stringData": string_data}


def list_tokens(service) -> list[Token]:
    out = []
    for secret in service.list(field_selector=f"type={SECRET_TYPE}"):
        tok = token_of(secret)
        if tok is not None:
            out.append(tok)
    return out


def run(service, params: dict, check_mode: bool, at: datetime.datetime | None = None,
        new_token: t.Callable[[], tuple[str, str]] = generate) -> dict:
    at = at or datetime.datetime.now(datetime.timezone.utc)
    state = params.get("state", "present")
    existing = list_tokens(service)
    if state == "absent":
        token_id = params.get("token_id")
        if token_id is not None and not ID_RE.match(token_id):
            raise TokenError("token_id", "is not 6 characters of [a-z0-9]")
        description = params.get("description")
        if token_id is None and not description:
            raise TokenError("state", "absent needs token_id or description")
        doomed = [tok.token_id for tok in existing
                  if (token_id is not None and tok.token_id == token_id)
                  or (token_id is None and tok.description == description)]
        if not check_mode:
            for victim in doomed:
                service.delete(f"bootstrap-token-{victim}")
        return {"changed": bool(doomed), "deleted": doomed, "tokens": [tok.public() for tok in existing
                                                                       if tok.token_id not in doomed]}
    want = parse_want(params)
    plan = decide(existing, want, at, bool(params.get("cleanup_expired", True)), new_token)
    if not check_mode:
        for victim in plan.delete:
            service.delete(f"bootstrap-token-{victim}")
        if plan.create is not None:
            service.create(secret_body(plan.create))
    chosen = plan.reuse or plan.create
    result: dict[str, t.Any] = {
        "changed": plan.create is not None or bool(plan.delete),
        "created": plan.create is not None,
        "deleted": plan.delete,
        "token_id": chosen.token_id,
        # in check mode a token that would be created does not exist: return none
        "token": None if (check_mode and plan.create is not None) else chosen.value,
        "expiration": rfc3339(chosen.expiration) if chosen.expiration else None,
        "tokens": [tok.public() for tok in existing if tok.token_id not in plan.delete]
        + ([plan.create.public()] if plan.create is not None else []),
    }
    return result
