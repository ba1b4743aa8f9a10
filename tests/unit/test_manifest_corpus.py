"""kaudit.manifest on every real manifest in the shared corpus (../shared/corpus/manifests).

Each manifest either passes every property of check_round_trips (byte-identical disable,
idempotent and relative enable, a valid pod with only the patch changed, sorted placement
where the flags were sorted) or is refused with the clear error listed in REFUSED.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kaudit.manifest import ManifestError, disable_audit, enable_audit, inspect_manifest
from tests.corpus import corpus_params, shared_file
from tests.unit.test_manifest import (
    PATCH,
    apiserver_container,
    check_round_trips,
    flag_names,
    load,
    read_text,
)

# kube-apiserver started through `/bin/sh -c "... kube-apiserver --flags ..."`: the flags are
# words of one shell string (quoting, redirections, `exec`), which kaudit does not rewrite.
SHELL_MULTILINE = "15-hard-way-v1.15-sh-c-mkfifo-multiline-flags-audit.yaml"
REFUSED = {
    "13-gce-json-sh-c-exec-single-string-kms-sidecar.yaml": (
        "spec.containers[0].command",
        "through a shell string",
    ),
    SHELL_MULTILINE: (
        "spec.containers[0].command",
        "through a shell string",
    ),
}


@pytest.mark.parametrize("path", corpus_params("manifests"))
def test_corpus_manifest_round_trips_or_is_refused_clearly(path: Path) -> None:
    text = read_text(path)
    if path.name in REFUSED:
        field, reason = REFUSED[path.name]
        with pytest.raises(ManifestError) as caught:
            enable_audit(text, PATCH, source=path.name)
        assert (caught.value.field, caught.value.source) == (field, path.name)
        assert reason in caught.value.reason
        # A refused manifest is still readable, and disable leaves it alone.
        assert not inspect_manifest(text, source=path.name).managed
        assert disable_audit(text, source=path.name) == text
        return
    check_round_trips(text, path.name)


@pytest.mark.parametrize("path", corpus_params("manifests"))
def test_corpus_manifest_gets_new_flags_in_sorted_place_or_last(path: Path) -> None:
    if path.name in REFUSED:
        pytest.skip("refused; see test_corpus_manifest_round_trips_or_is_refused_clearly")
    text = read_text(path)
    before = flag_names(apiserver_container(load(text)))
    after = flag_names(apiserver_container(load(enable_audit(text, PATCH, source=path.name))))
    added = [name for name, _ in PATCH.flags if name not in before]
    if before == sorted(before):
        assert after == sorted(after)
    else:
        assert after == before + added


def test_corpus_inspect_reads_audit_flags_inside_a_shell_string() -> None:
    path = shared_file("corpus", "manifests", SHELL_MULTILINE)
    state = inspect_manifest(read_text(path), source=path.name)
    assert ("--audit-log-format", "json") in state.audit_flags
    assert ("--audit-log-path", "/var/log/kube-apiserver-audit/audit.log") in state.audit_flags
