# -*- coding: utf-8 -*-
# Copyright: kubebin.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the client layer of the API modules (not a public API).

``connect()`` builds a ``kubernetes`` ApiClient from a kubeconfig file. The
services (``CSRService``, ``SecretService``) are the only code that calls the API;
the decision functions in ``_csr_policy`` and ``_bootstrap`` receive a service as an
argument, so their unit tests pass a fake one.
"""

from __future__ import annotations

import typing as t

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.client.rest import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised by the sanity import test
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

    class ApiException(Exception):  # type: ignore[no-redef]
        """Stand-in so ``except ApiException`` still parses without the library."""

        status = 0


class K8sError(Exception):
    """A user-facing error from the API layer."""


def connect(kubeconfig: str, context: str | None = None):
    """An ApiClient for ``kubeconfig`` (and ``context``), or K8sError naming the file."""
    try:
        api_client = k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
    except Exception as exc:  # the loader raises many types (ConfigException, OSError, yaml errors)
        raise K8sError(f"kubeconfig: cannot load {kubeconfig}: {exc}") from None
    return api_client


# How often a write that met a 409 Conflict is tried again on a fresh read.
CONFLICT_RETRIES = 3


def api_error(exc: Exception, action: str) -> K8sError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or str(exc)
    return K8sError(f"{action}: API answered {status} {reason}".strip())


class CSRService:
    """CertificateSigningRequests, as plain dicts."""

    def __init__(self, api_client) -> None:
        self.api = k8s_client.CertificatesV1Api(api_client)
        self.sanitize = api_client.sanitize_for_serialization

    def list(self) -> list[dict]:
        try:
            items = self.api.list_certificate_signing_request().items
        except ApiException as exc:
            raise api_error(exc, "list CertificateSigningRequests") from None
        return [self.sanitize(i) for i in items]

    def set_condition(self, name: str, condition: str, reason: str, message: str) -> None:
        """Add an Approved or Denied condition through the approval subresource.

        A 409 Conflict (the CSR changed between the read and the write: the masters'
        kubebin-csr-approver timer applies the same policy and may decide first) is retried on
        a fresh read; a CSR that already carries this condition is left as it is.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                csr = self.api.read_certificate_signing_request(name)
                conditions = list(csr.status.conditions or []) if csr.status else []
                if any(c.type == condition and c.status == "True" for c in conditions):
                    return
                conditions.append(k8s_client.V1CertificateSigningRequestCondition(
                    type=condition, status="True", reason=reason, message=message))
                if csr.status is None:
                    csr.status = k8s_client.V1CertificateSigningRequestStatus()
                csr.status.conditions = conditions
                self.api.replace_certificate_signing_request_approval(name, csr)
                return
            except ApiException as exc:
                if getattr(exc, "status", None) == 409 and attempt < CONFLICT_RETRIES:
                    continue
                raise api_error(exc, f"{condition.lower()} CSR {name}") from None


class SecretService:
    """Secrets of one namespace, as plain dicts."""

    def __init__(self, api_client, namespace: str = "kube-system") -> None:
        self.api = k8s_client.CoreV1Api(api_client)
        self.namespace = namespace
        self.sanitize = api_client.sanitize_for_serialization

    def list(self, field_selector: str | None = None) -> list[dict]:
        try:
            kwargs: dict[str, t.Any] = {}
            if field_selector:
                kwargs["field_selector"] = field_selector
            items = self.api.list_namespaced_secret(self.namespace, **kwargs).items
        except ApiException as exc:
            raise api_error(exc, f"list Secrets in {self.namespace}") from None
        return [self.sanitize(i) for i in items]

    def create(self, body: dict) -> None:
        try:
            self.api.create_namespaced_secret(self.namespace, body)
        except ApiException as exc:
            raise api_error(exc, f"create Secret {body.get('metadata', {}).get('name')}") from None

    def delete(self, name: str) -> None:
        try:
            self.api.delete_namespaced_secret(name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise api_error(exc, f"delete Secret {name}") from None
