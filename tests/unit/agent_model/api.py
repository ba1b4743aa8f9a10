"""The Kubernetes API as the agents see it: one object with KubeApi's methods, in memory.

What matters for the agent is modelled as the API server does it: the AuditConfig's
generation moves with each spec change and deletion, status.nodeStatuses is merged per field
manager as server-side apply merges a list keyed by nodeName (an apply of [] removes that
manager's entry; 404 once the object is gone), the Lease is replaced only at the
resourceVersion that was read (409 otherwise) and created only when absent (409 otherwise).
Every call first goes through `before_call`, where the world raises an outage (KubeError with
status 0) or a crash (SimulatedCrash).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kaudit.kube.api import KubeError


def _no_check(_: str) -> None:
    return None


def _copy(value: Any) -> Any:
    """A deep copy of API JSON (dicts, lists, scalars): copy.deepcopy's memo is the model's
    hottest cost otherwise."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


@dataclass(kw_only=True)
class SimulatedApi:
    before_call: Callable[[str], None] = _no_check
    audit_config: dict[str, Any] | None = None
    owners: dict[str, str] = field(default_factory=dict)  # nodeName -> field manager
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> labels
    config_maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    pods: Callable[[str, str], dict[str, Any] | None] = lambda _ns, _name: None
    events: list[dict[str, Any]] = field(default_factory=list)
    revision: int = 1
    calls: int = 0

    def _call(self, what: str) -> None:
        self.calls += 1
        self.before_call(what)

    def _next_revision(self) -> str:
        self.revision += 1
        return str(self.revision)

    # --- the world's own writes (no hooks) -----------------------------------------------

    def put_spec(self, spec: Mapping[str, Any]) -> None:
        """Create the AuditConfig or change its spec, as `kubectl apply` does."""
        if self.audit_config is None:
            self.owners.clear()
            self.audit_config = {
                "apiVersion": "kaudit.io/v1alpha1",
                "kind": "AuditConfig",
                "metadata": {
                    "name": "cluster",
                    "uid": f"uid-{self.revision}",
                    "generation": 1,
                    "resourceVersion": self._next_revision(),
                    "finalizers": ["kaudit.io/finalizer"],
                },
                "spec": _copy(dict(spec)),
                "status": {"nodeStatuses": []},
            }
            return
        metadata = self.audit_config["metadata"]
        # A spec change is allowed while the finalizer holds a deleted object.
        if self.audit_config["spec"] == dict(spec):
            return
        self.audit_config["spec"] = _copy(dict(spec))
        metadata["generation"] += 1
        metadata["resourceVersion"] = self._next_revision()

    def mark_deleted(self, when: str) -> None:
        if self.audit_config is None:
            return
        metadata = self.audit_config["metadata"]
        if metadata.get("deletionTimestamp"):
            return
        metadata["deletionTimestamp"] = when
        # The registry bumps the generation when it sets the deletion timestamp.
        metadata["generation"] += 1
        metadata["resourceVersion"] = self._next_revision()

    def entries(self) -> dict[str, dict[str, Any]]:
        if self.audit_config is None:
            return {}
        return {e["nodeName"]: e for e in self.audit_config["status"]["nodeStatuses"]}

    def drop_entry(self, node: str) -> None:
        if self.audit_config is None:
            return
        status = self.audit_config["status"]
        status["nodeStatuses"] = [e for e in status["nodeStatuses"] if e["nodeName"] != node]
        self.owners.pop(node, None)

    def finish_deletion(self) -> None:
        self.audit_config = None
        self.owners.clear()

    # --- KubeApi --------------------------------------------------------------------------

    def get_audit_config(self) -> dict[str, Any] | None:
        self._call("get_audit_config")
        return _copy(self.audit_config)

    def apply_audit_config_status(
        self,
        status: Mapping[str, Any],
        *,
        field_manager: str,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        self._call("apply_audit_config_status")
        body = self.audit_config
        if body is None:
            raise KubeError("writing AuditConfig status: not found", status=404)
        metadata = body["metadata"]
        if resource_version is not None and resource_version != metadata["resourceVersion"]:
            raise KubeError("writing AuditConfig status: conflict", status=409)
        before = _copy(body["status"])
        for key, value in status.items():
            if key != "nodeStatuses":
                body["status"][key] = _copy(value)
        if "nodeStatuses" in status:
            self._apply_entries(list(status["nodeStatuses"]), field_manager)
        if body["status"] != before:
            metadata["resourceVersion"] = self._next_revision()
        return _copy(body)

    def _apply_entries(self, applied: list[Mapping[str, Any]], manager: str) -> None:
        assert self.audit_config is not None
        entries = self.audit_config["status"]["nodeStatuses"]
        names = [str(entry["nodeName"]) for entry in applied]
        # The manager's entries it no longer applies go; the ones it applies are its own.
        kept = [
            e
            for e in entries
            if self.owners.get(e["nodeName"]) != manager or e["nodeName"] in names
        ]
        by_name = {e["nodeName"]: i for i, e in enumerate(kept)}
        for entry in applied:
            name = str(entry["nodeName"])
            self.owners[name] = manager
            if name in by_name:
                kept[by_name[name]] = _copy(dict(entry))
            else:
                kept.append(_copy(dict(entry)))
        for name in [n for n, m in self.owners.items() if m == manager and n not in names]:
            del self.owners[name]
        self.audit_config["status"]["nodeStatuses"] = kept

    def list_nodes(self, label_selector: str) -> list[dict[str, Any]]:
        self._call("list_nodes")
        selector = {
            key: value
            for key, _, value in (part.partition("=") for part in label_selector.split(","))
            if key
        }
        return [
            {"metadata": {"name": name, "labels": dict(labels)}}
            for name, labels in sorted(self.nodes.items())
            if _matches(labels, selector)
        ]

    def node_exists(self, name: str) -> bool:
        self._call("node_exists")
        return name in self.nodes

    def node_names(self, selector: Mapping[str, str]) -> list[str]:
        self._call("node_names")
        return [name for name, labels in sorted(self.nodes.items()) if _matches(labels, selector)]

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_pod")
        return _copy(self.pods(namespace, name))

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_config_map")
        data = self.config_maps.get((namespace, name))
        if data is None:
            return None
        return {"metadata": {"namespace": namespace, "name": name}, "data": dict(data)}

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        self._call("config_map_value")
        return self.config_maps.get((namespace, name), {}).get(key)

    def dry_run_create_pod(self, namespace: str, pod: Mapping[str, Any]) -> None:
        self._call("dry_run_create_pod")
        if not isinstance(pod, Mapping) or pod.get("kind") != "Pod":
            raise KubeError("server-side dry-run: not a pod", status=422)

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_lease")
        return _copy(self.leases.get((namespace, name)))

    def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        self._call("create_lease")
        name = str((lease.get("metadata") or {}).get("name"))
        if (namespace, name) in self.leases:
            raise KubeError(f"creating lease {namespace}/{name}: exists", status=409)
        stored = _copy(dict(lease))
        stored.setdefault("metadata", {})["resourceVersion"] = self._next_revision()
        self.leases[(namespace, name)] = stored
        return _copy(stored)

    def replace_lease(self, namespace: str, name: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        self._call("replace_lease")
        current = self.leases.get((namespace, name))
        if current is None:
            raise KubeError(f"updating lease {namespace}/{name}: not found", status=404)
        wanted = (lease.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise KubeError(f"updating lease {namespace}/{name}: conflict", status=409)
        stored = _copy(dict(lease))
        stored.setdefault("metadata", {})["resourceVersion"] = self._next_revision()
        self.leases[(namespace, name)] = stored
        return _copy(stored)

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
        # KubeApi.record_event is best effort: it never raises an Exception (a crash still goes).
        try:
            self._call("record_event")
        except KubeError:
            return
        self.events.append(
            {
                "namespace": namespace,
                "involved": (involved.get("metadata") or {}).get("name"),
                "reason": reason,
                "message": message,
                "type": "Warning" if warning else "Normal",
                "component": component,
            }
        )


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(
        key in labels and (not value or labels[key] == value) for key, value in selector.items()
    )
