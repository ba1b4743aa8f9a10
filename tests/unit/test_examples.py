"""The examples users copy are valid AuditConfigs that the admission webhook accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kaudit.config import audit_config_from_object
from kaudit.controller.admission import review_audit_config

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


def documents(path: Path) -> list[dict[str, object]]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_accepted_without_warnings(path: Path) -> None:
    docs = documents(path)
    (config,) = [d for d in docs if d.get("kind") == "AuditConfig"]
    config_maps = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d["data"]  # type: ignore[index]
        for d in docs
        if d.get("kind") == "ConfigMap"
    }

    def read(namespace: str, name: str, key: str) -> str | None:
        return config_maps.get((namespace, name), {}).get(key)  # type: ignore[no-any-return]

    audit_config_from_object(config, source=path.name)
    decision = review_audit_config(config, read_config_map=read)
    assert decision.allowed, decision.message
    # The examples keep kaudit's defaults (the seed's single backup), which CIS warns about;
    # the CIS example must meet the benchmark.
    other = [w for w in decision.warnings if "CIS Kubernetes Benchmark" not in w]
    assert other == []
    if path.name == "auditconfig-cis.yaml":
        assert decision.warnings == ()


def test_there_is_an_example_for_each_policy_source_and_for_off() -> None:
    names = {p.name for p in EXAMPLES}
    assert {
        "auditconfig.yaml",
        "auditconfig-preset.yaml",
        "auditconfig-inline-rules.yaml",
        "auditconfig-configmap.yaml",
        "auditconfig-disabled.yaml",
        "auditconfig-cis.yaml",
    } <= names
