"""The AuditConfig resource as typed values: defaults, parsing and the checks a file must pass.

The defaults reproduce the manual procedure kaudit replaces (the "enable k8s audit logs" guide):
the policy at /etc/kubernetes/audit-policy/apiserver-audit-policy.yaml, the five flags
--audit-log-maxage=30 --audit-log-maxbackup=1 --audit-log-maxsize=100
--audit-log-path=/var/log/audit/kube-apiserver-audit.log and --audit-policy-file, the audit-logs
and audit-policy hostPath volumes. Backups go to /etc/kubernetes/tmp/kaudit, a folder of
kaudit's own: the guide's /etc/kubernetes/tmp is where kubeadm keeps its upgrade backups and etcd
snapshots, which the agent has no business being able to read. Where each path may be is
paths.py's to say.

Parsing never raises anything but ConfigError, whose message names the file, the field and what
was expected, so that the CLI and the admission webhook can show it as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kaudit import paths as path_rules
from kaudit.paths import host_paths_problem, log_path_problem
from kaudit.yamltext import YamlTextError, load_single_document

GROUP: Final = "kaudit.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "AuditConfig"
# One AuditConfig per cluster: the API server has one audit configuration, so several objects
# could only contradict each other.
SINGLETON_NAME: Final = "cluster"

DEFAULT_MANIFEST: Final = path_rules.DEFAULT_MANIFEST
DEFAULT_POLICY_FILE: Final = path_rules.DEFAULT_POLICY_FILE
DEFAULT_LOG_DIR: Final = path_rules.DEFAULT_LOG_DIR
DEFAULT_LOG_PATH: Final = path_rules.DEFAULT_LOG_PATH
DEFAULT_BACKUP_DIR: Final = path_rules.DEFAULT_BACKUP_DIR

DEFAULT_PRESET: Final = "Recommended"
CONTROL_PLANE_LABEL: Final = "node-role.kubernetes.io/control-plane"

LOG_FORMATS: Final = ("json", "legacy")
LOG_MODES: Final = ("blocking", "blocking-strict", "batch")
AUDIT_VERSIONS: Final = ("audit.k8s.io/v1",)

_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# Kubernetes' label rules (apimachinery validation): a name of at most 63 characters, a prefix
# that is a DNS subdomain of at most 253.
_LABEL_NAME_CHARS: Final = 63
_LABEL_PREFIX_CHARS: Final = 253
# kube-apiserver reads its --audit-log-* numbers as Go int and float32 flags: a value past
# these would stop it at start. int32's range is far above any real setting.
_MAX_WHOLE_NUMBER: Final = 2**31 - 1
_MAX_FLOAT32: Final = 3.4028234663852886e38
_SHOWN_KEY_CHARS: Final = 80


class ConfigError(ValueError):
    """An AuditConfig that cannot be used, with the file, the field and the reason."""

    def __init__(self, *, source: str, field: str, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, kw_only=True)
class ConfigMapKeyRef:
    namespace: str
    name: str
    key: str


@dataclass(frozen=True, kw_only=True)
class PolicySpec:
    """Where the policy comes from: exactly one of preset, rules or config_map_ref.

    Rules stay as the user wrote them (plain data); the policy engine validates and types them,
    so that its error messages, which mirror kube-apiserver's, apply to them too.
    """

    preset: str | None = DEFAULT_PRESET
    rules: tuple[Mapping[str, Any], ...] | None = None
    omit_stages: tuple[str, ...] | None = None
    omit_managed_fields: bool | None = None
    config_map_ref: ConfigMapKeyRef | None = None
    custom_rules: tuple[Mapping[str, Any], ...] = ()

    @property
    def source_name(self) -> str:
        if self.preset is not None:
            return f"preset {self.preset}"
        if self.config_map_ref is not None:
            ref = self.config_map_ref
            return f"configmap {ref.namespace}/{ref.name} key {ref.key}"
        return "inline rules"


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    buffer_size: int | None = None
    max_size: int | None = None
    max_wait: str | None = None
    throttle_enable: bool | None = None
    throttle_qps: float | None = None
    throttle_burst: int | None = None


@dataclass(frozen=True, kw_only=True)
class TruncateSpec:
    enabled: bool | None = None
    max_batch_size: int | None = None
    max_event_size: int | None = None


@dataclass(frozen=True, kw_only=True)
class LogSpec:
    """kube-apiserver's --audit-log-* options. None means "leave kube-apiserver's default"."""

    path: str = DEFAULT_LOG_PATH
    max_age: int | None = 30
    max_backup: int | None = 1
    max_size: int | None = 100
    format: str | None = None
    compress: bool | None = None
    mode: str | None = None
    version: str | None = None
    batch: BatchSpec = field(default_factory=BatchSpec)
    truncate: TruncateSpec = field(default_factory=TruncateSpec)


@dataclass(frozen=True, kw_only=True)
class HostPathsSpec:
    """Paths on the control-plane host. The policy file has the same path inside the container."""

    manifest: str = DEFAULT_MANIFEST
    policy_file: str = DEFAULT_POLICY_FILE
    log_dir: str = DEFAULT_LOG_DIR
    backup_dir: str = DEFAULT_BACKUP_DIR


@dataclass(frozen=True, kw_only=True)
class RolloutSpec:
    health_timeout_seconds: int = 300
    auto_rollback: bool = True


@dataclass(frozen=True, kw_only=True)
class KubeadmConfigSpec:
    """kubeadm's own record of the cluster (ConfigMap kube-system/kubeadm-config).

    record: also write the audit flags and volumes into its ClusterConfiguration, so that
    `kubeadm upgrade` and `kubeadm join --control-plane`, which regenerate the manifest from
    it, keep audit logging on instead of dropping it until an agent puts it back.
    """

    record: bool = True


@dataclass(frozen=True, kw_only=True)
class AuditConfigSpec:
    enabled: bool = True
    policy: PolicySpec = field(default_factory=PolicySpec)
    log: LogSpec = field(default_factory=LogSpec)
    host_paths: HostPathsSpec = field(default_factory=HostPathsSpec)
    node_selector: Mapping[str, str] = field(default_factory=lambda: {CONTROL_PLANE_LABEL: ""})
    rollout: RolloutSpec = field(default_factory=RolloutSpec)
    kubeadm_config: KubeadmConfigSpec = field(default_factory=KubeadmConfigSpec)


@dataclass(frozen=True, kw_only=True)
class AuditConfig:
    name: str
    generation: int | None
    spec: AuditConfigSpec


def load_audit_config_text(text: str, *, source: str) -> AuditConfig:
    """Parse the YAML a user would `kubectl apply` into an AuditConfig."""
    try:
        document = load_single_document(text)
    except YamlTextError as error:
        raise ConfigError(source=source, field="", reason=str(error)) from None
    return audit_config_from_object(document, source=source)


def audit_config_from_object(document: object, *, source: str) -> AuditConfig:
    """Build an AuditConfig from a whole object (a parsed file or an API watch event body)."""
    reader = _Reader(source)
    root = reader.mapping(document, "")
    api_version = root.get("apiVersion")
    kind = root.get("kind")
    if api_version != API_VERSION or kind != KIND:
        raise ConfigError(
            source=source,
            field="apiVersion/kind",
            reason=f"expected apiVersion {API_VERSION} and kind {KIND}, "
            f"found {_quoted(api_version)} and {_quoted(kind)}",
        )
    metadata = reader.mapping(root.get("metadata", {}), "metadata")
    name = metadata.get("name")
    if name != SINGLETON_NAME:
        raise ConfigError(
            source=source,
            field="metadata.name",
            reason=f"must be {SINGLETON_NAME!r}: a cluster has one audit configuration, "
            f"found {_quoted(name)}",
        )
    generation = metadata.get("generation")
    spec = audit_config_spec_from_data(root.get("spec", {}), source=source)
    return AuditConfig(
        name=SINGLETON_NAME,
        generation=generation if isinstance(generation, int) else None,
        spec=spec,
    )


def audit_config_spec_from_data(data: object, *, source: str) -> AuditConfigSpec:
    reader = _Reader(source)
    spec = reader.mapping(data, "spec")
    reader.known_keys(
        spec,
        "spec",
        {"enabled", "policy", "log", "hostPaths", "nodeSelector", "rollout", "kubeadmConfig"},
    )
    return AuditConfigSpec(
        enabled=reader.boolean(spec, "enabled", "spec", default=True),
        policy=_policy_spec(reader, spec.get("policy", {})),
        log=_log_spec(reader, spec.get("log", {})),
        host_paths=_host_paths_spec(reader, spec.get("hostPaths", {})),
        node_selector=_node_selector(reader, spec.get("nodeSelector")),
        rollout=_rollout_spec(reader, spec.get("rollout", {})),
        kubeadm_config=_kubeadm_config_spec(reader, spec.get("kubeadmConfig", {})),
    )


def _policy_spec(reader: _Reader, data: object) -> PolicySpec:
    where = "spec.policy"
    policy = reader.mapping(data, where)
    reader.known_keys(
        policy,
        where,
        {"preset", "rules", "omitStages", "omitManagedFields", "configMapRef", "customRules"},
    )
    sources = [key for key in ("preset", "rules", "configMapRef") if key in policy]
    if len(sources) > 1:
        raise ConfigError(
            source=reader.source,
            field=where,
            reason=f"give exactly one policy source (preset, rules or configMapRef), "
            f"found {', '.join(sources)}",
        )
    preset: str | None = None
    rules: tuple[Mapping[str, Any], ...] | None = None
    ref: ConfigMapKeyRef | None = None
    if "rules" in policy:
        rules = reader.list_of_mappings(policy["rules"], f"{where}.rules")
        if not rules:
            raise ConfigError(
                source=reader.source,
                field=f"{where}.rules",
                reason="must not be empty: kube-apiserver refuses a policy with 0 rules",
            )
    elif "configMapRef" in policy:
        ref = _config_map_ref(reader, policy["configMapRef"], f"{where}.configMapRef")
    else:
        preset = reader.string(policy, "preset", where, default=DEFAULT_PRESET)
    omit_stages = None
    if "omitStages" in policy:
        omit_stages = reader.string_list(policy["omitStages"], f"{where}.omitStages")
    omit_managed_fields = None
    if "omitManagedFields" in policy:
        omit_managed_fields = reader.boolean(policy, "omitManagedFields", where, default=False)
    custom_rules: tuple[Mapping[str, Any], ...] = ()
    if "customRules" in policy:
        custom_rules = reader.list_of_mappings(policy["customRules"], f"{where}.customRules")
    return PolicySpec(
        preset=preset,
        rules=rules,
        omit_stages=omit_stages,
        omit_managed_fields=omit_managed_fields,
        config_map_ref=ref,
        custom_rules=custom_rules,
    )


def _config_map_ref(reader: _Reader, data: object, where: str) -> ConfigMapKeyRef:
    ref = reader.mapping(data, where)
    reader.known_keys(ref, where, {"namespace", "name", "key"})
    return ConfigMapKeyRef(
        namespace=reader.string(ref, "namespace", where, default="kaudit-system"),
        name=reader.required_string(ref, "name", where),
        key=reader.string(ref, "key", where, default="policy.yaml"),
    )


def _log_spec(reader: _Reader, data: object) -> LogSpec:
    where = "spec.log"
    log = reader.mapping(data, where)
    reader.known_keys(
        log,
        where,
        {
            "path",
            "maxAge",
            "maxBackup",
            "maxSize",
            "format",
            "compress",
            "mode",
            "version",
            "batch",
            "truncate",
        },
    )
    defaults = LogSpec()
    path = reader.string(log, "path", where, default=defaults.path)
    if path.endswith("/") and path.startswith("/"):
        raise reader.fail(f"{where}.path", f"must name a file, not a folder, found {_quoted(path)}")
    problem = log_path_problem(path)
    if problem is not None:
        raise reader.fail(f"{where}.path", problem)
    batch = reader.mapping(log.get("batch", {}), f"{where}.batch")
    reader.known_keys(
        batch,
        f"{where}.batch",
        {"bufferSize", "maxSize", "maxWait", "throttleEnable", "throttleQPS", "throttleBurst"},
    )
    truncate = reader.mapping(log.get("truncate", {}), f"{where}.truncate")
    reader.known_keys(truncate, f"{where}.truncate", {"enabled", "maxBatchSize", "maxEventSize"})
    max_wait = reader.optional_string(batch, "maxWait", f"{where}.batch")
    if max_wait is not None and not _DURATION.match(max_wait):
        raise ConfigError(
            source=reader.source,
            field=f"{where}.batch.maxWait",
            reason=f"must be a Go duration such as 30s or 1m30s, found {_quoted(max_wait)}",
        )
    result = LogSpec(
        path=path,
        max_age=reader.optional_int(log, "maxAge", where, default=defaults.max_age, minimum=0),
        max_backup=reader.optional_int(
            log, "maxBackup", where, default=defaults.max_backup, minimum=0
        ),
        max_size=reader.optional_int(log, "maxSize", where, default=defaults.max_size, minimum=0),
        format=reader.enum(log, "format", where, LOG_FORMATS),
        compress=reader.optional_boolean(log, "compress", where),
        mode=reader.enum(log, "mode", where, LOG_MODES),
        version=reader.enum(log, "version", where, AUDIT_VERSIONS),
        batch=BatchSpec(
            buffer_size=reader.optional_int(batch, "bufferSize", f"{where}.batch", minimum=1),
            max_size=reader.optional_int(batch, "maxSize", f"{where}.batch", minimum=1),
            max_wait=max_wait,
            throttle_enable=reader.optional_boolean(batch, "throttleEnable", f"{where}.batch"),
            throttle_qps=reader.optional_float(batch, "throttleQPS", f"{where}.batch"),
            throttle_burst=reader.optional_int(batch, "throttleBurst", f"{where}.batch", minimum=1),
        ),
        truncate=TruncateSpec(
            enabled=reader.optional_boolean(truncate, "enabled", f"{where}.truncate"),
            max_batch_size=reader.optional_int(
                truncate, "maxBatchSize", f"{where}.truncate", minimum=1
            ),
            max_event_size=reader.optional_int(
                truncate, "maxEventSize", f"{where}.truncate", minimum=1
            ),
        ),
    )
    _check_log_limits(reader, result, where)
    return result


# kube-apiserver's defaults for --audit-log-truncate-max-{batch,event}-size.
_TRUNCATE_MAX_BATCH_DEFAULT: Final = 10 * 1024 * 1024
_TRUNCATE_MAX_EVENT_DEFAULT: Final = 100 * 1024


def _check_log_limits(reader: _Reader, log: LogSpec, where: str) -> None:
    """kube-apiserver's own start-up check of the truncate sizes.

    It checks the truncate sizes even when truncating is off, and exits at start when they
    do not fit: caught here, the spec is refused before any node is touched.
    """
    batch_size = log.truncate.max_batch_size or _TRUNCATE_MAX_BATCH_DEFAULT
    event_size = log.truncate.max_event_size or _TRUNCATE_MAX_EVENT_DEFAULT
    if batch_size < event_size:
        raise reader.fail(
            f"{where}.truncate.maxBatchSize",
            f"{batch_size} is less than maxEventSize {event_size}: kube-apiserver refuses to "
            "start when a batch cannot hold one event",
        )


def _host_paths_spec(reader: _Reader, data: object) -> HostPathsSpec:
    where = "spec.hostPaths"
    paths = reader.mapping(data, where)
    reader.known_keys(paths, where, {"manifest", "policyFile", "logDir", "backupDir"})
    defaults = HostPathsSpec()
    result = HostPathsSpec(
        manifest=reader.string(paths, "manifest", where, default=defaults.manifest),
        policy_file=reader.string(paths, "policyFile", where, default=defaults.policy_file),
        log_dir=reader.string(paths, "logDir", where, default=defaults.log_dir),
        backup_dir=reader.string(paths, "backupDir", where, default=defaults.backup_dir),
    )
    _check_host_paths(result, source=reader.source)
    return result


def check_spec_paths(spec: AuditConfigSpec, *, source: str) -> None:
    """The path rules (kaudit.paths) for a spec however it was made, parsed or built in code."""
    problem = log_path_problem(spec.log.path)
    if problem is not None:
        raise ConfigError(source=source, field="spec.log.path", reason=problem)
    _check_host_paths(spec.host_paths, source=source)


def _check_host_paths(paths: HostPathsSpec, *, source: str) -> None:
    found = host_paths_problem(
        manifest=paths.manifest,
        policy_file=paths.policy_file,
        log_dir=paths.log_dir,
        backup_dir=paths.backup_dir,
    )
    if found is not None:
        key, reason = found
        raise ConfigError(source=source, field=f"spec.hostPaths.{key}", reason=reason)


def _node_selector(reader: _Reader, data: object) -> Mapping[str, str]:
    if data is None:
        return {CONTROL_PLANE_LABEL: ""}
    selector = reader.mapping(data, "spec.nodeSelector")
    result: dict[str, str] = {}
    for key, value in selector.items():
        if not isinstance(key, str) or not _is_label_key(key):
            raise ConfigError(
                source=reader.source,
                field="spec.nodeSelector",
                reason=f"{_quoted(key)} is not a valid label key",
            )
        if not isinstance(value, str | None):
            raise ConfigError(
                source=reader.source,
                field=f"spec.nodeSelector.{key}",
                reason=f"must be a string, found {_describe(value)}",
            )
        if value and (len(value) > _LABEL_NAME_CHARS or not _LABEL_VALUE.match(value)):
            raise ConfigError(
                source=reader.source,
                field=f"spec.nodeSelector.{key}",
                reason=f"{_quoted(value)} is not a valid label value (at most "
                f"{_LABEL_NAME_CHARS} letters, digits, '-', '_' or '.', alphanumeric at each end)",
            )
        result[key] = value or ""
    return result


def _rollout_spec(reader: _Reader, data: object) -> RolloutSpec:
    where = "spec.rollout"
    rollout = reader.mapping(data, where)
    if "maxUnavailable" in rollout:
        # Published once but never acted on: a field that promises several nodes at once and
        # silently changes one would mislead whoever sets it.
        raise reader.fail(
            f"{where}.maxUnavailable",
            "this field was removed: kaudit always changes one node at a time, so that at most "
            "one API server restarts at once; delete the field",
        )
    reader.known_keys(rollout, where, {"healthTimeoutSeconds", "autoRollback"})
    defaults = RolloutSpec()
    timeout = reader.optional_int(
        rollout, "healthTimeoutSeconds", where, default=defaults.health_timeout_seconds, minimum=10
    )
    return RolloutSpec(
        health_timeout_seconds=timeout if timeout is not None else 300,
        auto_rollback=reader.boolean(rollout, "autoRollback", where, default=True),
    )


def _kubeadm_config_spec(reader: _Reader, data: object) -> KubeadmConfigSpec:
    where = "spec.kubeadmConfig"
    kubeadm = reader.mapping(data, where)
    reader.known_keys(kubeadm, where, {"record"})
    return KubeadmConfigSpec(record=reader.boolean(kubeadm, "record", where, default=True))


class _Reader:
    """Typed access to user data, raising ConfigError with the field path on any mismatch."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, reason: str) -> ConfigError:
        return ConfigError(source=self.source, field=field, reason=reason)

    def mapping(self, value: object, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, found {_describe(value)}")
        return value

    def known_keys(self, value: Mapping[str, Any], where: str, known: set[str]) -> None:
        unknown = sorted(str(key)[:_SHOWN_KEY_CHARS] for key in value if key not in known)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}" if where else unknown[0],
                f"unknown field; known fields here: {', '.join(sorted(known))}",
            )

    def string(self, value: Mapping[str, Any], key: str, where: str, *, default: str) -> str:
        found = self.optional_string(value, key, where)
        return default if found is None else found

    def required_string(self, value: Mapping[str, Any], key: str, where: str) -> str:
        found = self.optional_string(value, key, where)
        if not found:
            raise self.fail(f"{where}.{key}", "is required")
        return found

    def optional_string(self, value: Mapping[str, Any], key: str, where: str) -> str | None:
        found = value.get(key)
        if found is None:
            return None
        if not isinstance(found, str):
            raise self.fail(f"{where}.{key}", f"must be a string, found {_describe(found)}")
        return found

    def enum(
        self, value: Mapping[str, Any], key: str, where: str, allowed: Sequence[str]
    ) -> str | None:
        found = self.optional_string(value, key, where)
        if found is not None and found not in allowed:
            raise self.fail(
                f"{where}.{key}",
                f"unsupported value {_quoted(found)}: supported values: {', '.join(allowed)}",
            )
        return found

    def boolean(self, value: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
        found = self.optional_boolean(value, key, where)
        return default if found is None else found

    def optional_boolean(self, value: Mapping[str, Any], key: str, where: str) -> bool | None:
        found = value.get(key)
        if found is None:
            return None
        if not isinstance(found, bool):
            raise self.fail(f"{where}.{key}", f"must be true or false, found {_describe(found)}")
        return found

    def optional_int(
        self,
        value: Mapping[str, Any],
        key: str,
        where: str,
        *,
        default: int | None = None,
        minimum: int,
    ) -> int | None:
        if key not in value:
            return default
        found = value[key]
        if found is None:
            return None
        if isinstance(found, bool) or not isinstance(found, int):
            raise self.fail(f"{where}.{key}", f"must be a whole number, found {_describe(found)}")
        if found < minimum:
            raise self.fail(f"{where}.{key}", f"must be at least {minimum}, found {_quoted(found)}")
        if found > _MAX_WHOLE_NUMBER:
            raise self.fail(
                f"{where}.{key}", f"must be at most {_MAX_WHOLE_NUMBER}, found {_quoted(found)}"
            )
        return found

    def optional_float(self, value: Mapping[str, Any], key: str, where: str) -> float | None:
        found = value.get(key)
        if found is None:
            return None
        if isinstance(found, bool) or not isinstance(found, int | float):
            raise self.fail(f"{where}.{key}", f"must be a number, found {_describe(found)}")
        if isinstance(found, int) and found > _MAX_WHOLE_NUMBER:
            raise self.fail(
                f"{where}.{key}", f"must be at most {_MAX_WHOLE_NUMBER}, found {_quoted(found)}"
            )
        number = float(found)
        # NaN passes every comparison below but one: refused first.
        if not math.isfinite(number) or number > _MAX_FLOAT32:
            raise self.fail(f"{where}.{key}", f"must be a finite number, found {_quoted(found)}")
        if number <= 0:
            raise self.fail(f"{where}.{key}", f"must be greater than 0, found {_quoted(found)}")
        return number

    def string_list(self, value: object, where: str) -> tuple[str, ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(where, f"must be a list of strings, found {_describe(value)}")
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{where}[{index}]", f"must be a string, found {_describe(item)}")
            items.append(item)
        return tuple(items)

    def list_of_mappings(self, value: object, where: str) -> tuple[Mapping[str, Any], ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(where, f"must be a list, found {_describe(value)}")
        items: list[Mapping[str, Any]] = []
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.fail(f"{where}[{index}]", f"must be a mapping, found {_describe(item)}")
            items.append(item)
        return tuple(items)


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, str):
        return f"the string {_quoted(value)}"
    if isinstance(value, Sequence):
        return "a list"
    return _quoted(value)


def _quoted(value: object) -> str:
    """A value the user wrote, for a message: long text cut short, a huge number by its size."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        # str() of an int past 4300 digits raises; its size is what matters here anyway.
        return f"a number of about {int(value.bit_length() * math.log10(2))} digits"
    if isinstance(value, str):
        return path_rules.shown(value)
    text = repr(value)
    return text if len(text) <= _SHOWN_KEY_CHARS else text[:_SHOWN_KEY_CHARS] + "..."


def _is_label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (
        len(name) <= _LABEL_NAME_CHARS
        and len(prefix) <= _LABEL_PREFIX_CHARS
        and _LABEL_KEY.match(key) is not None
    )
