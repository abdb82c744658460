# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for plugins/module_utils/_k8s_client.py: CSRService.set_condition and 409 Conflict."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

_HERE = os.path.abspath(__file__)
while os.path.basename(_HERE) not in ("ansible_collections", ""):
    _HERE = os.path.dirname(_HERE)
if os.path.dirname(_HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(_HERE))

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client.rest import ApiException  # noqa: E402

from ansible_collections.kubebin.cluster.plugins.module_utils import _k8s_client  # noqa: E402


class FakeApi:
    """CertificatesV1Api stand-in: `writers` run before each approval write (another approver)."""

    def __init__(self, conflicts=0, status=409):
        self.csr = SimpleNamespace(status=SimpleNamespace(conditions=[]))
        self.conflicts, self.status, self.writes, self.reads = conflicts, status, 0, 0
        self.approve_elsewhere = False

    def read_certificate_signing_request(self, name):
        self.reads += 1
        return SimpleNamespace(status=SimpleNamespace(conditions=list(self.csr.status.conditions)))

    def replace_certificate_signing_request_approval(self, name, body):
        if self.conflicts:
            self.conflicts -= 1
            if self.approve_elsewhere:  # the timer on a master approved it meanwhile
                self.csr.status.conditions.append(SimpleNamespace(type="Approved", status="True"))
            raise ApiException(status=self.status, reason="Conflict")
        self.writes += 1
        self.csr.status.conditions = list(body.status.conditions)


def service(api):
    svc = _k8s_client.CSRService.__new__(_k8s_client.CSRService)
    svc.api = api
    return svc


def test_approve_writes_one_condition():
    api = FakeApi()
    service(api).set_condition("csr-1", "Approved", "R", "m")
    assert api.writes == 1 and [c.type for c in api.csr.status.conditions] == ["Approved"]


def test_conflict_is_retried_on_a_fresh_read():
    api = FakeApi(conflicts=2)
    service(api).set_condition("csr-1", "Approved", "R", "m")
    assert api.writes == 1 and api.reads == 3 and [c.type for c in api.csr.status.conditions] == ["Approved"]


def test_conflict_with_an_approval_made_elsewhere_is_left_as_it_is():
    api = FakeApi(conflicts=1)
    api.approve_elsewhere = True
    service(api).set_condition("csr-1", "Approved", "R", "m")
    assert api.writes == 0 and [c.type for c in api.csr.status.conditions] == ["Approved"]


def test_conflicts_that_do_not_end_fail_naming_the_csr():
    api = FakeApi(conflicts=_k8s_client.CONFLICT_RETRIES + 1)
    with pytest.raises(_k8s_client.K8sError, match="approved CSR csr-1: API answered 409"):
        service(api).set_condition("csr-1", "Approved", "R", "m")
    assert api.writes == 0


def test_other_errors_are_not_retried():
    api = FakeApi(conflicts=1, status=403)
    with pytest.raises(_k8s_client.K8sError, match="API answered 403"):
        service(api).set_condition("csr-1", "Approved", "R", "m")
    assert api.reads == 1
