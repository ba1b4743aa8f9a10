"""The Kubernetes API calls kaudit makes, as plain dicts in and out.

This is the only module that imports the official client. Callers see KubeError (with the HTTP
status) or dicts shaped like the API's JSON, never the client's generated models: the rest of
kaudit is typed against the JSON it reads and the YAML users write.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kaudit.config import GROUP, KIND, SINGLETON_NAME, VERSION

log = logging.getLogger("kaudit.kube")

PLURAL: Final = "auditconfigs"
APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"


class KubeError(RuntimeError):
    """An API call that failed; status is the HTTP status, or 0 when the server was not reached."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


def _error(action: str, error: Exception) -> KubeError:
    if isinstance(error, ApiException):
        message = str(error.reason or "")
        reason = ""
        try:
            body = json.loads(error.body or "{}")
            message = body.get("message") or message
            reason = body.get("reason") or ""
        except (TypeError, ValueError):
            pass
        return KubeError(f"{action}: {message}", status=int(error.status or 0), reason=reason)
    return KubeError(f"{action}: {error}")


def _raw(body: Mapping[str, Any]) -> Any:
    """A JSON body for a typed client method: the client serialises dicts as they are."""
    return dict(body)


def _json(response: Any) -> Any:
    return json.loads(response.data or b"null")


def new_api_client(kubeconfig: str | None = None) -> Any:
    """A client for the cluster: the given kubeconfig, else in-cluster, else the default file."""
    # The client's config loaders carry no type hints.
    if kubeconfig:
        return k8s_config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    try:
        configuration = k8s.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return k8s.ApiClient(configuration)
    except k8s_config.ConfigException:
        return k8s_config.new_client_from_config()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, kw_only=True)
class ConnectionSettings:
    """How our client reaches the API server, for kopf to use the very same credentials."""

    server: str
    ca_path: str | None
    insecure: bool
    scheme: str | None
    token: str | None
    certificate_path: str | None
    private_key_path: str | None


def connection_settings(api_client: Any) -> ConnectionSettings:
    config = api_client.configuration
    # Newer clients keep the bearer token under BearerToken, older ones under authorization;
    # reading it runs the in-cluster refresh hook, so a rotated token is picked up.
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix(
        "authorization"
    )
    parts = header.split(" ", 1) if header else []
    scheme, token = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0] if parts else None)
    return ConnectionSettings(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


class KubeApi:
    """The calls kaudit makes. Every method returns API JSON as dicts, or raises KubeError."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.coordination = k8s.CoordinationV1Api(api_client)
        self.admission = k8s.AdmissionregistrationV1Api(api_client)

    # --- AuditConfig ---------------------------------------------------------------------

    def get_audit_config(self) -> dict[str, Any] | None:
        """The AuditConfig, or None when there is none.

        A restarting kube-apiserver answers 404 for custom resources until it has loaded the
        CRDs; that must not read as "the AuditConfig was deleted" (an agent would disable audit
        logging). So a 404 counts only when listing the resource type works.
        """
        try:
            response = self.custom.get_cluster_custom_object(
                GROUP, VERSION, PLURAL, SINGLETON_NAME, _preload_content=False
            )
        except ApiException as error:
            if error.status != 404:
                raise _error("reading AuditConfig cluster", error) from None
        except Exception as error:
            raise _error("reading AuditConfig cluster", error) from None
        else:
            return dict(_json(response))
        try:
            self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, limit=1)
        except Exception as error:
            raise _error("listing AuditConfigs (is the CRD served yet?)", error) from None
        return None

    def apply_audit_config_status(
        self,
        status: Mapping[str, Any],
        *,
        field_manager: str,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply of part of the status, owned by field_manager.

        nodeStatuses is a list keyed by nodeName, so each agent's apply merges its own entry
        and leaves the others' alone; the controller owns the summary fields the same way.
        """
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"name": SINGLETON_NAME},
            "status": dict(status),
        }
        if resource_version is not None:
            # A precondition: 409 Conflict if the object changed since it was read.
            body["metadata"]["resourceVersion"] = resource_version
        try:
            response = self.custom.patch_cluster_custom_object_status(
                GROUP,
                VERSION,
                PLURAL,
                SINGLETON_NAME,
                body,
                field_manager=field_manager,
                force=True,
                _content_type=APPLY_PATCH,
                _preload_content=False,
            )
        except Exception as error:
            raise _error(f"writing AuditConfig status as {field_manager}", error) from None
        return dict(_json(response))

    # --- nodes, pods, config maps --------------------------------------------------------

    def list_nodes(self, label_selector: str) -> list[dict[str, Any]]:
        try:
            response = self.core.list_node(label_selector=label_selector, _preload_content=False)
        except Exception as error:
            raise _error(f"listing nodes with {label_selector!r}", error) from None
        return list(_json(response).get("items", []))

    def node_exists(self, name: str) -> bool:
        node = self._get_or_none(
            f"reading node {name}", lambda: self.core.read_node(name, _preload_content=False)
        )
        return node is not None

    def node_names(self, selector: Mapping[str, str]) -> list[str]:
        """Names of the nodes a label selector (key: value, "" meaning "has the label") picks.

        Selected by the API server: a cluster may have thousands of workers, and every agent
        pass and controller refresh asks.
        """
        text = ",".join(f"{key}={value}" if value else key for key, value in selector.items())
        return [item["metadata"]["name"] for item in self.list_nodes(label_selector=text)]

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(
            f"reading pod {namespace}/{name}",
            lambda: self.core.read_namespaced_pod(name, namespace, _preload_content=False),
        )

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(
            f"reading configmap {namespace}/{name}",
            lambda: self.core.read_namespaced_config_map(name, namespace, _preload_content=False),
        )

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a ConfigMap's data, or None when the ConfigMap or the key is missing."""
        value = ((self.get_config_map(namespace, name) or {}).get("data") or {}).get(key)
        return value if isinstance(value, str) else None

    def replace_config_map(
        self,
        namespace: str,
        name: str,
        config_map: Mapping[str, Any],
        *,
        resource_version: str,
        field_manager: str,
    ) -> dict[str, Any]:
        """Replace a ConfigMap only if it is still at resource_version (read before).

        The precondition makes a concurrent writer (kubeadm, another tool, a person) visible
        as a 409, error.conflict, instead of one write silently undoing the other.
        """
        metadata = dict(config_map.get("metadata") or {})
        metadata["resourceVersion"] = resource_version
        body = {**config_map, "metadata": metadata}
        try:
            response = self.core.replace_namespaced_config_map(
                name,
                namespace,
                _raw(body),
                field_manager=field_manager,
                _preload_content=False,
            )
        except Exception as error:
            raise _error(f"updating configmap {namespace}/{name}", error) from None
        return dict(_json(response))

    def dry_run_create_pod(self, namespace: str, pod: Mapping[str, Any]) -> None:
        """Ask the API server to validate and admit a pod without creating it."""
        try:
            self.core.create_namespaced_pod(
                namespace, _raw(pod), dry_run="All", _preload_content=False
            )
        except Exception as error:
            raise _error("server-side dry-run of the new kube-apiserver pod", error) from None

    # --- leases --------------------------------------------------------------------------

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(
            f"reading lease {namespace}/{name}",
            lambda: self.coordination.read_namespaced_lease(
                name, namespace, _preload_content=False
            ),
        )

    def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self.coordination.create_namespaced_lease(
                namespace, _raw(lease), _preload_content=False
            )
        except Exception as error:
            raise _error(f"creating lease {namespace}", error) from None
        return dict(_json(response))

    def replace_lease(self, namespace: str, name: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        """Replace with the lease's resourceVersion: a 409 means someone else moved first."""
        try:
            response = self.coordination.replace_namespaced_lease(
                name, namespace, _raw(lease), _preload_content=False
            )
        except Exception as error:
            raise _error(f"updating lease {namespace}/{name}", error) from None
        return dict(_json(response))

    # --- events --------------------------------------------------------------------------

    def record_event(
        self,
        *,
        namespace: str,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        warning: bool,
        component: str,
    ) -> None:
        """A core/v1 Event about an object (the AuditConfig); a failure is logged, not raised."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        metadata = involved.get("metadata", {})
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{metadata.get('name', 'kaudit')}.",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": metadata.get("name"),
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(namespace, _raw(event), _preload_content=False)
        except Exception as error:
            # Events are best effort: losing one must not stop a rollout or a rollback.
            log.warning("Event %s not recorded: %s", reason, _error("recording event", error))

    # --- the admission webhook's configuration --------------------------------------------

    def apply_webhook_ca_bundle(self, name: str, ca_bundle: str, *, field_manager: str) -> None:
        """Put a CA bundle into every webhook of the ValidatingWebhookConfiguration `name`.

        Server-side apply of the caBundle fields only, owned by field_manager: the rest of the
        configuration stays whoever applied it (deploy/webhook.yaml), and a later apply of
        deploy/ leaves the bundle alone. The configuration must exist: an apply that would
        create it is refused (the controller may only patch it).
        """
        action = f"putting the CA bundle into validatingwebhookconfiguration {name}"
        try:
            response = self.admission.read_validating_webhook_configuration(
                name, _preload_content=False
            )
            webhooks = [w["name"] for w in _json(response).get("webhooks") or []]
            body = {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {"name": name},
                "webhooks": [
                    {"name": webhook, "clientConfig": {"caBundle": ca_bundle}}
                    for webhook in webhooks
                ],
            }
            self.admission.patch_validating_webhook_configuration(
                name,
                body,
                field_manager=field_manager,
                force=True,
                _content_type=APPLY_PATCH,
                _preload_content=False,
            )
        except Exception as error:
            raise _error(action, error) from None

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _get_or_none(action: str, call: Any) -> dict[str, Any] | None:
        try:
            return dict(_json(call()))
        except ApiException as error:
            if error.status == 404:
                return None
            raise _error(action, error) from None
        except Exception as error:
            raise _error(action, error) from None
