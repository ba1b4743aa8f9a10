"""The AuditConfig object as read from the cluster, parsed once: pure, no I/O.

The controller and the agents read the same object; each used to pick the generation, the
deletion mark, the spec and the node entries out of it on its own, and each had to remember
that anyone allowed to write the object can put anything in it. Here it is parsed once, and
never raises: a spec that cannot be used becomes `problem`, shown on the status as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kaudit.config import AuditConfigSpec, ConfigError, audit_config_spec_from_data
from kaudit.limits import InputRefusedError
from kaudit.manifest import ManifestError
from kaudit.policy import PolicyError
from kaudit.rollout.entries import NodeEntry, entries_by_node
from kaudit.yamltext import YamlTextError

# What parsing a spec may raise on purpose: each names the field and the reason.
_SPEC_PROBLEMS = (ConfigError, PolicyError, InputRefusedError, YamlTextError, ManifestError)


@dataclass(frozen=True, kw_only=True)
class ParsedAuditConfig:
    generation: int | None
    deleting: bool
    spec: AuditConfigSpec | None  # None when problem is set
    problem: str | None  # why the spec cannot be used, for the status and the node entries
    entries: Mapping[str, NodeEntry]  # status.nodeStatuses by nodeName
    body: Mapping[str, Any]  # the object as read (an Event's involvedObject)


def parse_audit_config(
    body: Mapping[str, Any], *, source: str = "AuditConfig cluster"
) -> ParsedAuditConfig:
    """The object's generation, deletion mark, spec (or why not) and node entries."""
    metadata = _mapping(body.get("metadata"))
    generation = metadata.get("generation")
    spec, problem = _spec(body.get("spec"), source=source)
    return ParsedAuditConfig(
        generation=generation if _is_whole_number(generation) else None,
        deleting=bool(metadata.get("deletionTimestamp")),
        spec=spec,
        problem=problem,
        entries=entries_by_node(_mapping(body.get("status")).get("nodeStatuses")),
        body=body,
    )


def _spec(data: object, *, source: str) -> tuple[AuditConfigSpec | None, str | None]:
    # A missing spec is the defaults (the CRD defaults it too); any other non-mapping, even an
    # empty list, is refused by the parser with the field named.
    try:
        return audit_config_spec_from_data({} if data is None else data, source=source), None
    except _SPEC_PROBLEMS as error:
        return None, str(error)
    except Exception as error:  # the backstop: the spec is data anyone may write
        return None, f"{source}: spec not usable ({type(error).__name__})"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_whole_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
