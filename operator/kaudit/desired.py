"""From an AuditConfig spec to what a control-plane host must look like: pure, no I/O.

The config hash covers the policy text and every manifest setting. It goes into the pod's
kaudit.io/config-hash annotation: the kubelet restarts a static pod only when its manifest
changes, and kube-apiserver reads the policy file only when it starts, so a policy-only change
must still change the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Final, Literal

from kaudit.config import (
    DEFAULT_POLICY_FILE,
    AuditConfigSpec,
    ConfigError,
    HostPathsSpec,
    LogSpec,
    PolicySpec,
    check_spec_paths,
)
from kaudit.manifest import AuditPatch, AuditVolume
from kaudit.paths import shown
from kaudit.policy import (
    Policy,
    compose_policy,
    parse_policy_text,
    policy_from_data,
    preset_names,
    preset_policy,
    render_policy,
    rules_from_data,
)

LOG_VOLUME_NAME = "audit-logs"
POLICY_VOLUME_NAME = "audit-policy"
AUDIT_VOLUME_NAMES: Final = frozenset({LOG_VOLUME_NAME, POLICY_VOLUME_NAME})
# kubelet creates a missing folder for DirectoryOrCreate, so the API server starts even when
# the agent has not yet made the log folder (the seed guide's type "" would leave that to the
# container runtime).
HOST_PATH_TYPE = "DirectoryOrCreate"
POLICY_FILE_HEADER = (
    "# Written by kaudit from {source}. "
    "kaudit rewrites this file: change the AuditConfig instead.\n"
)


@dataclass(frozen=True, kw_only=True)
class EnabledState:
    """Audit logging on: the policy file's text and what goes into the manifest.

    Both are required: an "enabled" state without its patch once made the agent expect the
    config hash "(none)" from a healthy API server (issue 12); now it cannot be built.
    """

    host_paths: HostPathsSpec
    log_file_name: str
    policy_text: str
    patch: AuditPatch

    @property
    def enabled(self) -> Literal[True]:
        return True

    @property
    def config_hash(self) -> str:
        return self.patch.config_hash


@dataclass(frozen=True, kw_only=True)
class DisabledState:
    """Audit logging off: kaudit's settings out of the manifest, the policy file as it was.

    The paths are still needed: they say where kaudit's files are to be taken away from.
    """

    host_paths: HostPathsSpec
    log_file_name: str

    @property
    def enabled(self) -> Literal[False]:
        return False

    @property
    def config_hash(self) -> None:
        return None


# What one control-plane host must carry for a spec; isinstance tells which.
DesiredState = EnabledState | DisabledState


def resolve_policy(spec: PolicySpec, *, source: str, config_map_text: str | None = None) -> Policy:
    """The policy a spec asks for, validated; custom rules go before the base rules.

    A ConfigMap-referenced policy needs its text (the controller reads it from the cluster,
    the CLI from --policy-file); without it this is an error, not a silent default.
    """
    if spec.rules is not None:
        data: dict[str, object] = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "rules": [dict(rule) for rule in spec.rules],
        }
        if spec.omit_stages is not None:
            data["omitStages"] = list(spec.omit_stages)
        if spec.omit_managed_fields is not None:
            data["omitManagedFields"] = spec.omit_managed_fields
        base = policy_from_data(data, source=f"{source} spec.policy")
    elif spec.config_map_ref is not None:
        if config_map_text is None:
            ref = spec.config_map_ref
            raise ConfigError(
                source=source,
                field="spec.policy.configMapRef",
                reason=f"the policy lives in ConfigMap {ref.namespace}/{ref.name} key {ref.key}; "
                "pass its text (kaudit node apply --policy-file FILE) or run in the cluster",
            )
        base = parse_policy_text(config_map_text, source=spec.source_name)
        base = _with_overrides(base, spec)
    else:
        name = spec.preset or ""
        if name not in preset_names():
            raise ConfigError(
                source=source,
                field="spec.policy.preset",
                reason=f"unknown preset {shown(name)}: known presets: {', '.join(preset_names())}",
            )
        base = _with_overrides(preset_policy(name), spec)
    custom = rules_from_data(
        [dict(rule) for rule in spec.custom_rules],
        source=source,
        field_prefix="spec.policy.customRules",
    )
    return compose_policy(base=base, custom_rules=custom)


def _with_overrides(base: Policy, spec: PolicySpec) -> Policy:
    """A preset or ConfigMap policy with the spec's policy-level omitStages/omitManagedFields."""
    changes: dict[str, object] = {}
    if spec.omit_stages is not None:
        changes["omit_stages"] = tuple(spec.omit_stages)
    if spec.omit_managed_fields is not None:
        changes["omit_managed_fields"] = spec.omit_managed_fields
    if not changes:
        return base
    # Re-validate: an override can carry an unknown stage.
    merged = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    return parse_policy_text(render_policy(merged), source=f"{spec.source_name} with overrides")


def _flag_values(log: LogSpec, policy_file: str) -> dict[str, object | None]:
    """Every flag kaudit can write, with its value for these settings (None: not written)."""
    return {
        "--audit-policy-file": policy_file,
        "--audit-log-path": log.path,
        "--audit-log-maxage": log.max_age,
        "--audit-log-maxbackup": log.max_backup,
        "--audit-log-maxsize": log.max_size,
        "--audit-log-format": log.format,
        "--audit-log-compress": log.compress,
        "--audit-log-mode": log.mode,
        "--audit-log-version": log.version,
        "--audit-log-batch-buffer-size": log.batch.buffer_size,
        "--audit-log-batch-max-size": log.batch.max_size,
        "--audit-log-batch-max-wait": log.batch.max_wait,
        "--audit-log-batch-throttle-enable": log.batch.throttle_enable,
        "--audit-log-batch-throttle-qps": log.batch.throttle_qps,
        "--audit-log-batch-throttle-burst": log.batch.throttle_burst,
        "--audit-log-truncate-enabled": log.truncate.enabled,
        "--audit-log-truncate-max-batch-size": log.truncate.max_batch_size,
        "--audit-log-truncate-max-event-size": log.truncate.max_event_size,
    }


# The names alone, whatever the spec: what "take kaudit's flags out" means where no record of
# the values is kept (kubeadm's ClusterConfiguration).
AUDIT_FLAG_NAMES: Final = frozenset(_flag_values(LogSpec(), DEFAULT_POLICY_FILE))


def audit_flags(log: LogSpec, policy_file: str) -> tuple[tuple[str, str], ...]:
    """kube-apiserver flags for the log settings, sorted by name as kubeadm writes them."""
    flags = _flag_values(log, policy_file)
    return tuple(
        (name, _flag_value(value)) for name, value in sorted(flags.items()) if value is not None
    )


def _flag_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def audit_volumes(spec: AuditConfigSpec) -> tuple[AuditVolume, ...]:
    policy_dir = posixpath.dirname(spec.host_paths.policy_file)
    return (
        AuditVolume(
            name=LOG_VOLUME_NAME,
            host_path=spec.host_paths.log_dir,
            mount_path=posixpath.dirname(spec.log.path),
            read_only=False,
            host_path_type=HOST_PATH_TYPE,
        ),
        AuditVolume(
            name=POLICY_VOLUME_NAME,
            host_path=policy_dir,
            mount_path=policy_dir,
            read_only=True,
            host_path_type=HOST_PATH_TYPE,
        ),
    )


def policy_file_text(policy: Policy, *, source: str) -> str:
    return POLICY_FILE_HEADER.format(source=source) + render_policy(policy)


def config_hash(
    policy_text: str, flags: tuple[tuple[str, str], ...], volumes: tuple[AuditVolume, ...]
) -> str:
    canonical = json.dumps(
        {
            "policy": policy_text,
            "flags": [list(flag) for flag in flags],
            "volumes": [
                [v.name, v.host_path, v.mount_path, v.read_only, v.host_path_type] for v in volumes
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def desired_state(
    spec: AuditConfigSpec, *, source: str, config_map_text: str | None = None
) -> DesiredState:
    """Everything a host needs for this spec; raises ConfigError or PolicyError before any I/O.

    The paths are checked here too: a spec built in code (a test, a caller's replace()) never
    went through the parser, and these paths become hostPath volumes of kube-apiserver.
    """
    check_spec_paths(spec, source=source)
    log_file_name = posixpath.basename(spec.log.path)
    if not spec.enabled:
        return DisabledState(host_paths=spec.host_paths, log_file_name=log_file_name)
    policy = resolve_policy(spec.policy, source=source, config_map_text=config_map_text)
    text = policy_file_text(policy, source=spec.policy.source_name)
    flags = audit_flags(spec.log, spec.host_paths.policy_file)
    volumes = audit_volumes(spec)
    patch = AuditPatch(flags=flags, volumes=volumes, config_hash=config_hash(text, flags, volumes))
    return EnabledState(
        host_paths=spec.host_paths,
        log_file_name=log_file_name,
        policy_text=text,
        patch=patch,
    )
