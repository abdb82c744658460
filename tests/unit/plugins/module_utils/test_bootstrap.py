# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of bootstrap-token logic with a fake Secret service."""

from __future__ import annotations

import base64
import datetime

import pytest

from ansible_collections.kubebin.cluster.plugins.module_utils import _bootstrap as bt

NOW = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.timezone.utc)


class FakeSecrets:
    """Stores Secret bodies the way the API returns them (data base64-encoded)."""

    def __init__(self):
        self.items = {}
        self.calls = []

    def list(self, field_selector=None):
        assert field_selector == f"type={bt.SECRET_TYPE}"
        return list(self.items.values())

    def create(self, body):
        self.calls.append(("create", body["metadata"]["name"]))
        data = {k: base64.b64encode(v.encode()).decode() for k, v in body["stringData"].items()}
        self.items[body["metadata"]["name"]] = {"metadata": body["metadata"], "type": body["type"], "data": data}

    def delete(self, name):
        self.calls.append(("delete", name))
        self.items.pop(name, None)


def params(**kw):
    base = {"state": "present", "description": "nodes", "usages": ["authentication"],
            "groups": ["system:bootstrappers:kubebin:default-node-token"], "ttl": "24h", "min_ttl": "1h",
            "cleanup_expired": True, "token": None, "token_id": None}
    base.update(kw)
    return base


def ids():
    counter = iter(range(100))
    return lambda: (f"abc{next(counter):03d}", "0123456789abcdef")


def test_create_then_reuse():
    svc = FakeSecrets()
    new = ids()
    first = bt.run(svc, params(), False, at=NOW, new_token=new)
    assert first["changed"] and first["created"]
    assert first["token"] == "abc000.0123456789abcdef"
    assert first["expiration"] == "2026-11-23T12:00:00Z"
    body = svc.items["bootstrap-token-abc000"]
    assert body["type"] == "bootstrap.kubernetes.io/token"
    tok = bt.token_of(body)
    assert tok.usages == ("authentication",) and tok.groups == ("system:bootstrappers:kubebin:default-node-token",)
    again = bt.run(svc, params(), False, at=NOW + datetime.timedelta(hours=20), new_token=new)
    assert not again["changed"] and again["token"] == first["token"]


def test_token_close_to_expiry_is_replaced_and_expired_deleted():
    svc = FakeSecrets()
    new = ids()
    bt.run(svc, params(), False, at=NOW, new_token=new)
    later = bt.run(svc, params(), False, at=NOW + datetime.timedelta(hours=23, minutes=30), new_token=new)
    assert later["created"] and later["token_id"] == "abc001" and later["deleted"] == []
    after_expiry = bt.run(svc, params(), False, at=NOW + datetime.timedelta(hours=25), new_token=new)
    assert after_expiry["deleted"] == ["abc000"] and not after_expiry["created"]
    assert "bootstrap-token-abc000" not in svc.items


def test_different_groups_do_not_reuse():
    svc = FakeSecrets()
    new = ids()
    bt.run(svc, params(), False, at=NOW, new_token=new)
    other = bt.run(svc, params(groups=["system:bootstrappers:other"]), False, at=NOW, new_token=new)
    assert other["created"] and other["token_id"] == "abc001"


def test_check_mode_writes_nothing_and_returns_no_token():
    svc = FakeSecrets()
    result = bt.run(svc, params(), True, at=NOW, new_token=ids())
    assert result["changed"] and result["token"] is None and svc.calls == []


def test_exact_token_and_absent_and_list():
    svc = FakeSecrets()
    wanted = "abcdef.fedcba9876543210"
    first = bt.run(svc, params(token=wanted, ttl="0"), False, at=NOW)
    assert first["created"] and first["expiration"] is None
    assert not bt.run(svc, params(token=wanted, ttl="0"), False, at=NOW)["changed"]
    listed = bt.run(svc, params(token=wanted, ttl="0"), True, at=NOW)
    assert listed["tokens"] == [{"token_id": "abcdef", "description": "nodes", "expiration": None,
                                 "usages": ["authentication"],
                                 "groups": ["system:bootstrappers:kubebin:default-node-token"]}]
    assert "fedcba" not in repr(listed["tokens"])
    gone = bt.run(svc, params(state="absent", token_id="abcdef"), False, at=NOW)
    assert gone["changed"] and gone["deleted"] == ["abcdef"] and not svc.items
    assert not bt.run(svc, params(state="absent", token_id="abcdef"), False, at=NOW)["changed"]


@pytest.mark.parametrize("kw,field", [
    ({"groups": ["system:masters"]}, "groups[0]"),
    ({"token": "short.token"}, "token"),
    ({"ttl": "forever"}, "ttl"),
    ({"ttl": "1h", "min_ttl": "2h"}, "min_ttl"),
    ({"usages": ["root"]}, "usages"),
    ({"description": ""}, "description"),
])
def test_bad_input(kw, field):
    with pytest.raises(bt.TokenError) as err:
        bt.parse_want(params(**kw))
    assert err.value.field == field


def test_malformed_secret_is_skipped():
    svc = FakeSecrets()
    svc.items["bootstrap-token-bad"] = {"data": {"token-id": base64.b64encode(b"BAD!").decode()}}
    assert bt.list_tokens(svc) == []


def test_durations():
    assert bt.parse_duration("1d12h", "x") == datetime.timedelta(days=1, hours=12)
    assert bt.parse_duration("90m", "x") == datetime.timedelta(minutes=90)
    assert bt.parse_duration("0", "x") is None
