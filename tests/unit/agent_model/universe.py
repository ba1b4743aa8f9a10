"""The model's small fixed universe: the specs, the ConfigMap policies, the original manifests,
and every kaudit render of each original for each spec.

Small on purpose: desired_state and enable_audit cost milliseconds each (ruamel round trip),
so the world computes each render once per process and looks texts up in a table. The
table is also invariant 2's definition of what the kubelet may read.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kaudit.config import CONTROL_PLANE_LABEL, audit_config_spec_from_data
from kaudit.desired import desired_state
from kaudit.manifest import enable_audit

FIXTURES: Final = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
MANIFEST_PATH: Final = "/etc/kubernetes/manifests/kube-apiserver.yaml"
POLICY_PATH: Final = "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
PENDING_PATH: Final = "/etc/kubernetes/tmp/kaudit/kaudit-pending-change.json"
CANARY_LABEL: Final = "kaudit.io/canary"
CONFIG_MAP: Final = ("kaudit-system", "audit-policy", "policy.yaml")
HEALTH_TIMEOUT_SECONDS: Final = 60

_ROLLOUT: Final = {"healthTimeoutSeconds": HEALTH_TIMEOUT_SECONDS}

# Spec name -> AuditConfig spec as a user writes it. Each moves one thing the agent reads:
# the policy, the log settings (and so the audit log file), enabled, the node selector, the
# policy's source (a ConfigMap).
SPECS: Final[dict[str, dict[str, Any]]] = {
    "recommended": {"policy": {"preset": "Recommended"}, "rollout": _ROLLOUT},
    "metadata": {"policy": {"preset": "Metadata"}, "rollout": _ROLLOUT},
    "short-logs": {
        "policy": {"preset": "Recommended"},
        "log": {"maxAge": 7, "path": "/var/log/audit/short.log"},
        "rollout": _ROLLOUT,
    },
    "configmap": {"policy": {"configMapRef": {"name": CONFIG_MAP[1]}}, "rollout": _ROLLOUT},
    "off": {"enabled": False, "rollout": _ROLLOUT},
    "canary": {
        "policy": {"preset": "Metadata"},
        "nodeSelector": {CANARY_LABEL: ""},
        "rollout": _ROLLOUT,
    },
}

CONFIG_MAP_POLICIES: Final = {
    "a": "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
    "b": "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\n"
    "rules:\n- level: Request\n  resources:\n  - group: ''\n    resources: [secrets]\n"
    "- level: Metadata\n",
}

ORIGINAL_FIXTURES: Final = (
    "kubeadm-v1.34.yaml",
    "json-flow-style.yaml",
    "hand-edited-takeover.yaml",
)
LINE_ENDINGS: Final = ("lf", "crlf", "no-final-newline")


@dataclass(frozen=True, kw_only=True)
class Target:
    """What one (spec, ConfigMap policy) asks of every selected node."""

    enabled: bool
    config_hash: str | None
    selector: tuple[tuple[str, str], ...]
    host_log_path: str | None  # the audit log file on the host, when enabled


@dataclass(frozen=True, kw_only=True)
class Rendering:
    """A manifest text the kubelet may run: the original or a kaudit render of it."""

    config_hash: str | None
    host_log_path: str | None


@functools.cache
def original_text(fixture: str, line_ending: str) -> str:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    if line_ending == "crlf":
        return text.replace("\n", "\r\n")
    if line_ending == "no-final-newline":
        return text.rstrip("\n")
    return text


@functools.cache
def _desired(spec_name: str, config_map: str) -> Any:
    spec = audit_config_spec_from_data(SPECS[spec_name], source="model")
    return desired_state(spec, source="model", config_map_text=CONFIG_MAP_POLICIES[config_map])


@functools.cache
def target(spec_name: str, config_map: str) -> Target:
    desired = _desired(spec_name, config_map)
    log_path = (
        posixpath.join(desired.host_paths.log_dir, desired.log_file_name)
        if desired.enabled
        else None
    )
    spec = audit_config_spec_from_data(SPECS[spec_name], source="model")
    return Target(
        enabled=desired.enabled,
        config_hash=desired.config_hash,
        selector=tuple(sorted(spec.node_selector.items())),
        host_log_path=log_path,
    )


def selector_of(spec_name: str) -> dict[str, str]:
    return dict(audit_config_spec_from_data(SPECS[spec_name], source="model").node_selector)


@functools.cache
def renderings(original: str) -> dict[str, Rendering]:
    """Every text the kubelet may read on a host that started with `original`."""
    table = {original: Rendering(config_hash=None, host_log_path=None)}
    done: set[str] = set()
    for spec_name in SPECS:
        for config_map in CONFIG_MAP_POLICIES:
            desired = _desired(spec_name, config_map)
            if desired.patch is None or desired.config_hash in done:
                continue
            done.add(desired.config_hash)
            text = enable_audit(original, desired.patch, source="model")
            table[text] = Rendering(
                config_hash=desired.config_hash,
                host_log_path=target(spec_name, config_map).host_log_path,
            )
    return table


@functools.cache
def render_for(original: str, config_hash: str) -> str:
    for text, rendering in renderings(original).items():
        if rendering.config_hash == config_hash:
            return text
    raise KeyError(config_hash)


def default_labels() -> dict[str, str]:
    return {CONTROL_PLANE_LABEL: ""}
