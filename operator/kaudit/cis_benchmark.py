"""Where an AuditConfig's log settings fall short of the CIS Kubernetes Benchmark.

The CIS Kubernetes Benchmark, section 1.2 (API server), asks for --audit-log-maxage of at
least 30 days, --audit-log-maxbackup of at least 10 files and --audit-log-maxsize of at least
100 MB (the item numbers move between benchmark versions, 1.2.16-1.2.19 in v1.8, so they are
not quoted). kaudit's defaults reproduce the documented seed procedure (30 days, 1 backup,
100 MB) and stay as they are; a shortfall is an admission warning, never a denial, so the user
learns of it at `kubectl apply` and examples/auditconfig-cis.yaml shows settings that meet it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kaudit.config import AuditConfigSpec


@dataclass(frozen=True)
class _Requirement:
    field: str
    flag: str
    minimum: int
    unit: str


_REQUIREMENTS: Final = (
    _Requirement("maxAge", "--audit-log-maxage", 30, "days"),
    _Requirement("maxBackup", "--audit-log-maxbackup", 10, "files"),
    _Requirement("maxSize", "--audit-log-maxsize", 100, "MB"),
)


def cis_log_warnings(spec: AuditConfigSpec) -> tuple[str, ...]:
    """One warning per log setting below the benchmark, saying what it asks and how to meet it."""
    if not spec.enabled:
        return ()
    values = {
        "maxAge": spec.log.max_age,
        "maxBackup": spec.log.max_backup,
        "maxSize": spec.log.max_size,
    }
    warnings: list[str] = []
    for requirement in _REQUIREMENTS:
        value = values[requirement.field]
        if value is not None and value >= requirement.minimum:
            continue
        current = (
            f"is {value}"
            if value is not None
            else "is not set (kube-apiserver's default, 0, which the benchmark does not accept)"
        )
        warnings.append(
            f"spec.log.{requirement.field} {current}: the CIS Kubernetes Benchmark (1.2, API "
            f"server) asks for {requirement.flag} of at least {requirement.minimum} "
            f"{requirement.unit}; set spec.log.{requirement.field}: {requirement.minimum} or "
            "more (examples/auditconfig-cis.yaml meets the benchmark)"
        )
    return tuple(warnings)
