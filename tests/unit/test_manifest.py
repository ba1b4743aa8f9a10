"""kaudit.manifest on manifests we wrote: the seed procedure, styles, take-overs and refusals.

The helpers at the top (patches, and an independent reading of the parsed pod) are shared with
test_manifest_corpus.py, which runs the same properties on every real manifest in the corpus.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import posixpath
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kaudit.manifest import (
    ANNOTATION_CONFIG_HASH,
    AuditPatch,
    AuditVolume,
    ManifestError,
    disable_audit,
    enable_audit,
    inspect_manifest,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "manifests"
RESTORE = "kaudit.io/restore"

SEED_FLAGS = (
    ("--audit-log-maxage", "30"),
    ("--audit-log-maxbackup", "1"),
    ("--audit-log-maxsize", "100"),
    ("--audit-log-path", "/var/log/audit/kube-apiserver-audit.log"),
    ("--audit-policy-file", "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"),
)
PATCH = AuditPatch(
    flags=SEED_FLAGS,
    volumes=(
        AuditVolume(
            "audit-logs", "/var/log/kubernetes/audit", "/var/log/audit", False, "DirectoryOrCreate"
        ),
        AuditVolume(
            "audit-policy",
            "/etc/kubernetes/audit-policy",
            "/etc/kubernetes/audit-policy",
            True,
            "DirectoryOrCreate",
        ),
    ),
    config_hash="sha256:1111111111111111",
)
# Other settings: different values, one flag fewer, another host path and mount settings.
OTHER_PATCH = AuditPatch(
    flags=(
        ("--audit-log-maxage", "7"),
        ("--audit-log-maxbackup", "3"),
        ("--audit-log-path", "/var/log/audit/other.log"),
        ("--audit-policy-file", "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"),
    ),
    volumes=(
        AuditVolume("audit-logs", "/var/log/kaudit", "/var/log/audit", False, "Directory"),
        PATCH.volumes[1],
    ),
    config_hash="sha256:2222222222222222",
)
POLICY_ONLY_CHANGE = dataclasses.replace(PATCH, config_hash="sha256:3333333333333333")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def read_text(path: Path) -> str:
    """The file's exact text: no newline translation, so CRLF files stay CRLF."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(StringIO(text))


# --- an independent reading of a pod, to judge the patcher's output --------------------------


def apiserver_container(pod: dict[str, Any]) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    named = [c for c in containers if c.get("name") == "kube-apiserver"]
    if named:
        return dict(named[0])
    running = [
        c
        for c in containers
        if any(
            posixpath.basename(str(item)) == "kube-apiserver"
            for item in c.get("command", []) + c.get("args", [])
        )
    ]
    assert len(running) == 1
    return dict(running[0])


def apiserver_words(container: dict[str, Any]) -> list[str]:
    """command + args after the kube-apiserver binary (kops: /go-runner's own flags go first)."""
    words = [str(word) for word in container.get("command", []) + container.get("args", [])]
    for index, word in enumerate(words):
        if posixpath.basename(word) == "kube-apiserver" or (
            index > 0 and word == "apiserver" and words[index - 1].endswith("hyperkube")
        ):
            return words[index + 1 :]
    return words


def flag_values(container: dict[str, Any], name: str) -> list[str]:
    words = apiserver_words(container)
    values = []
    for index, word in enumerate(words):
        if word.startswith(name + "="):
            values.append(word.split("=", 1)[1])
        elif word == name:
            values.append(words[index + 1])
    return values


def flag_names(container: dict[str, Any]) -> list[str]:
    return [word.split("=", 1)[0] for word in apiserver_words(container) if word.startswith("--")]


def without_patch(pod: dict[str, Any], patch: AuditPatch) -> dict[str, Any]:
    """The pod with everything the patch may add or take over removed."""
    pod = copy.deepcopy(pod)
    names = {name for name, _ in patch.flags}
    volume_names = {volume.name for volume in patch.volumes}
    mount_paths = {posixpath.normpath(volume.mount_path) for volume in patch.volumes}
    annotations = pod["metadata"].get("annotations")
    if isinstance(annotations, dict):
        for key in (ANNOTATION_CONFIG_HASH, RESTORE):
            annotations.pop(key, None)
        if not annotations:
            del pod["metadata"]["annotations"]
    container = apiserver_container(pod)
    index = pod["spec"]["containers"].index(container)
    for key in ("command", "args"):
        if key not in container:
            continue
        kept: list[Any] = []
        skip_value = False
        for word in container[key]:
            if skip_value:
                skip_value = False
                continue
            if str(word).split("=", 1)[0] in names:
                skip_value = "=" not in str(word)
                continue
            kept.append(word)
        container[key] = kept
    mounts = [
        mount
        for mount in container.get("volumeMounts", [])
        if mount.get("name") not in volume_names
        and posixpath.normpath(mount.get("mountPath", "")) not in mount_paths
    ]
    container.pop("volumeMounts", None)
    if mounts:
        container["volumeMounts"] = mounts
    pod["spec"]["containers"][index] = container
    volumes = [v for v in pod["spec"].get("volumes", []) if v.get("name") not in volume_names]
    pod["spec"].pop("volumes", None)
    if volumes:
        pod["spec"]["volumes"] = volumes
    return pod


def check_enabled(original: str, enabled: str, patch: AuditPatch) -> None:
    """enable's output is a valid pod with the patch applied once and nothing else changed."""
    before, after = load(original), load(enabled)
    container = apiserver_container(after)
    for name, value in patch.flags:
        assert flag_values(container, name) == [value], name
    mounts = container.get("volumeMounts", [])
    mount_paths = [posixpath.normpath(m["mountPath"]) for m in mounts]
    assert len(mount_paths) == len(set(mount_paths)), "two volumeMounts share a mountPath"
    volumes = after["spec"].get("volumes", [])
    volume_names = [v["name"] for v in volumes if "name" in v]
    assert len(volume_names) == len(set(volume_names)), "two volumes share a name"
    for volume in patch.volumes:
        ours = [m for m in mounts if m.get("name") == volume.name]
        assert len(ours) == 1
        assert ours[0]["mountPath"] == volume.mount_path
        assert ours[0].get("readOnly", False) is volume.read_only
        defined = [v for v in volumes if v.get("name") == volume.name]
        assert len(defined) == 1
        assert defined[0]["hostPath"] == {"path": volume.host_path, "type": volume.host_path_type}
    assert after["metadata"]["annotations"][ANNOTATION_CONFIG_HASH] == patch.config_hash
    assert without_patch(after, patch) == without_patch(before, patch)


def check_round_trips(text: str, source: str) -> str:
    """Every property that holds for a manifest kaudit can patch; returns the enabled text."""
    assert disable_audit(text, source=source) == text
    enabled = enable_audit(text, PATCH, source=source)
    check_enabled(text, enabled, PATCH)
    assert disable_audit(enabled, source=source) == text
    assert enable_audit(enabled, PATCH, source=source) == enabled
    other = enable_audit(text, OTHER_PATCH, source=source)
    check_enabled(text, other, OTHER_PATCH)
    assert enable_audit(enabled, OTHER_PATCH, source=source) == other
    assert disable_audit(other, source=source) == text
    # A policy-only change touches only the config-hash annotation.
    policy_changed = enable_audit(enabled, POLICY_ONLY_CHANGE, source=source)
    changed = [
        (old, new)
        for old, new in zip(enabled.splitlines(), policy_changed.splitlines(), strict=True)
        if old != new
    ]
    assert len(changed) == 1
    assert ANNOTATION_CONFIG_HASH in changed[0][1]
    state = inspect_manifest(enabled, source=source)
    assert state.managed
    assert state.config_hash == PATCH.config_hash
    assert set(PATCH.flags) <= set(state.audit_flags)
    assert set(state.volumes) == {volume.name for volume in PATCH.volumes}
    assert not inspect_manifest(text, source=source).managed
    return enabled


# --- the seed procedure ----------------------------------------------------------------------

POLICY_DIR = "/etc/kubernetes/audit-policy"
SEED_PATCH = AuditPatch(
    flags=SEED_FLAGS,
    volumes=(
        AuditVolume("audit-logs", "/var/log/kubernetes/audit", "/var/log/audit", False, ""),
        AuditVolume(
            "audit-policy",
            "/etc/kubernetes/audit-policy",
            "/etc/kubernetes/audit-policy",
            False,
            "",
        ),
    ),
    config_hash="sha256:1111111111111111",
)


def test_enable_on_kubeadm_v1_34_adds_what_the_seed_procedure_describes() -> None:
    original = fixture_text("kubeadm-v1.34.yaml")
    enabled = enable_audit(original, SEED_PATCH, source="kube-apiserver.yaml")
    container = apiserver_container(load(enabled))
    # 1. the five flags under spec.containers.command, in kubeadm's sorted order
    names = flag_names(container)
    assert names == sorted(names)
    audit = [w for w in apiserver_words(container) if w.startswith("--audit")]
    assert audit == [
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=1",
        "--audit-log-maxsize=100",
        "--audit-log-path=/var/log/audit/kube-apiserver-audit.log",
        "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
    ]
    # 2. the two mounts, 3. the two hostPath volumes, exactly as the seed writes them
    assert [m for m in container["volumeMounts"] if m["name"].startswith("audit-")] == [
        {"mountPath": "/var/log/audit", "name": "audit-logs"},
        {"mountPath": "/etc/kubernetes/audit-policy", "name": "audit-policy"},
    ]
    assert [v for v in load(enabled)["spec"]["volumes"] if v["name"].startswith("audit-")] == [
        {"hostPath": {"path": "/var/log/kubernetes/audit", "type": ""}, "name": "audit-logs"},
        {
            "hostPath": {"path": "/etc/kubernetes/audit-policy", "type": ""},
            "name": "audit-policy",
        },
    ]
    check_enabled(original, enabled, SEED_PATCH)
    # and nothing else: the added lines are the seed's, plus the two kaudit annotations.
    added = Counter(enabled.splitlines())
    added.subtract(Counter(original.splitlines()))
    restore_line = next(line for line in added if line.startswith("    kaudit.io/restore: '{"))
    expected = [
        '    kaudit.io/config-hash: "sha256:1111111111111111"',
        restore_line,
        "    - --audit-log-maxage=30",
        "    - --audit-log-maxbackup=1",
        "    - --audit-log-maxsize=100",
        "    - --audit-log-path=/var/log/audit/kube-apiserver-audit.log",
        "    - --audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
        "    - mountPath: /var/log/audit",
        "      name: audit-logs",
        "    - mountPath: /etc/kubernetes/audit-policy",
        "      name: audit-policy",
        "  - hostPath:",
        "      path: /var/log/kubernetes/audit",
        '      type: ""',
        "    name: audit-logs",
        "  - hostPath:",
        "      path: /etc/kubernetes/audit-policy",
        '      type: ""',
        "    name: audit-policy",
    ]
    assert +added == Counter(expected)
    assert not -added  # no line removed or changed


def test_kubeadm_v1_34_round_trips() -> None:
    check_round_trips(fixture_text("kubeadm-v1.34.yaml"), "kube-apiserver.yaml")


def test_enabled_kubeadm_v1_34_is_written_as_expected() -> None:
    enabled = enable_audit(fixture_text("kubeadm-v1.34.yaml"), PATCH, source="kube-apiserver.yaml")
    assert enabled == fixture_text("kubeadm-v1.34-audit-enabled.yaml")


@pytest.mark.parametrize("line_ending", ["\n", "\r\n"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_line_endings_and_a_missing_final_newline_survive(
    line_ending: str, final_newline: bool
) -> None:
    text = fixture_text("kubeadm-v1.34.yaml").replace("\n", line_ending)
    if not final_newline:
        text = text.removesuffix(line_ending)
    enabled = check_round_trips(text, "kube-apiserver.yaml")
    if line_ending == "\r\n":
        assert "\n" not in enabled.replace("\r\n", "")
    assert enabled.endswith(line_ending) is final_newline


def test_a_pod_ending_in_its_volumes_without_final_newline_round_trips() -> None:
    text = fixture_text("kubeadm-v1.34.yaml").removesuffix("status: {}\n").rstrip("\n")
    check_round_trips(text, "kube-apiserver.yaml")


# --- other styles ----------------------------------------------------------------------------


def test_json_manifest_in_flow_style_is_patched_in_flow_style() -> None:
    original = fixture_text("json-flow-style.yaml")
    enabled = check_round_trips(original, "kube-apiserver.json")
    assert '"--audit-log-path=/var/log/audit/kube-apiserver-audit.log"' in enabled
    json.loads(enabled)  # still JSON: every addition is written in JSON's flow style


def test_hand_edited_manifest_has_its_clashing_mount_and_volume_taken_over_and_restored() -> None:
    original = fixture_text("hand-edited-takeover.yaml")
    enabled = check_round_trips(original, "kube-apiserver.yaml")
    container = apiserver_container(load(enabled))
    # `--audit-log-path value` keeps its two-item form: only the value item changes.
    words = apiserver_words(container)
    assert words[words.index("--audit-log-path") + 1] == "/var/log/audit/kube-apiserver-audit.log"
    assert "- /var/log/audit/kube-apiserver-audit.log   # written by hand" in enabled
    assert "- '--audit-log-maxage=30'" in enabled  # the quoting style of the item it replaces
    # the mount at /var/log/audit/ named my-audit-dir is now kaudit's audit-logs
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "my-audit-dir" not in mounts
    assert mounts["audit-logs"] == "/var/log/audit"
    state = inspect_manifest(enabled, source="kube-apiserver.yaml")
    assert state.volumes == ("audit-logs", "audit-policy")


def test_flags_in_args_after_a_command_without_flags_go_into_args() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n"
        "  - name: kube-apiserver\n    command: [kube-apiserver]\n    args:\n"
        "    - --secure-port=6443\n"
    )
    enabled = check_round_trips(text, "a.yaml")
    assert "    - --audit-log-maxage=30\n" in enabled
    assert "command: [kube-apiserver]\n" in enabled


def test_unsorted_flags_get_the_new_flags_after_the_last_one() -> None:
    text = (
        fixture_text("kubeadm-v1.34.yaml")
        .replace("    - --advertise-address=10.0.0.10\n", "")
        .replace(
            "    - --tls-private-key-file",
            "    - --advertise-address=10.0.0.10\n    - --tls-private-key-file",
        )
    )
    enabled = enable_audit(text, PATCH, source="a.yaml")
    names = flag_names(apiserver_container(load(enabled)))
    assert names[-5:] == [name for name, _ in PATCH.flags]


def test_inspect_reads_flags_inside_a_shell_string() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n"
        "  - name: kube-apiserver\n    command:\n    - /bin/sh\n    - -c\n"
        '    - exec /usr/local/bin/kube-apiserver --audit-log-format="json" --v=2 '
        "--audit-log-path /var/log/a.log 1>>/var/log/kube-apiserver.log 2>&1\n"
    )
    state = inspect_manifest(text, source="a.yaml")
    assert state.audit_flags == (
        ("--audit-log-format", "json"),
        ("--audit-log-path", "/var/log/a.log"),
    )
    assert not state.managed
    assert disable_audit(text, source="a.yaml") == text


# --- refusals --------------------------------------------------------------------------------

POD_HEAD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        pytest.param("", "(file)", "is empty", id="empty"),
        pytest.param("# only a comment\n", "(file)", "no YAML document", id="comments-only"),
        pytest.param("kind: Pod\nspec: [\n", "(file)", "is not valid YAML", id="not-yaml"),
        pytest.param(
            POD_HEAD + "  - name: kube-apiserver\n    command: [kube-apiserver]\n---\nkind: Pod\n",
            "(file)",
            "2 YAML documents",
            id="two-documents",
        ),
        pytest.param("- a\n- b\n", "(document)", "not a mapping", id="a-list"),
        pytest.param(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {}\nspec: {}\n",
            "kind",
            "'Deployment', expected Pod",
            id="not-a-pod",
        ),
        pytest.param(
            POD_HEAD + "  - name: etcd\n    command: [etcd]\n",
            "spec.containers",
            "neither named kube-apiserver nor runs it",
            id="no-apiserver",
        ),
        pytest.param(
            POD_HEAD + "  - name: a\n    command: [x]\n  - name: b\n    command: [y]\n",
            "spec.containers",
            "2 containers and none is kube-apiserver",
            id="two-containers-none-apiserver",
        ),
        pytest.param(
            POD_HEAD
            + "  - name: a\n    command: [kube-apiserver]\n"
            + "  - name: b\n    args: [kube-apiserver]\n",
            "spec.containers",
            "2 containers run kube-apiserver",
            id="two-containers-run-apiserver",
        ),
        pytest.param(
            POD_HEAD + "  - name: kube-apiserver\n    image: x\n",
            "spec.containers[0]",
            "has no command or args",
            id="no-command",
        ),
        pytest.param(
            POD_HEAD
            + "  - name: kube-apiserver\n"
            + "    command: [/bin/sh, -c, exec kube-apiserver --v=2]\n",
            "spec.containers[0].command",
            "through a shell string",
            id="shell-string",
        ),
        pytest.param(
            POD_HEAD
            + "  - name: kube-apiserver\n    command: [kube-apiserver, --audit-log-path=/a,"
            " --audit-log-path=/b]\n",
            "spec.containers[0].command[2]",
            "--audit-log-path is given 2 times",
            id="flag-twice",
        ),
        pytest.param(
            POD_HEAD
            + "  - name: kube-apiserver\n    command: [kube-apiserver]\n    volumeMounts:\n"
            "    - {name: audit-logs, mountPath: /a}\n    - {name: b, mountPath: /var/log/audit}\n",
            "spec.containers[0].volumeMounts",
            "both clash with kaudit's 'audit-logs'",
            id="two-mounts-clash",
        ),
        pytest.param(
            POD_HEAD
            + "  - name: kube-apiserver\n"
            + "    command: [kube-apiserver]\n    volumeMounts:\n",
            "spec.containers[0].volumeMounts",
            "is empty (null)",
            id="null-volume-mounts",
        ),
        pytest.param(
            "apiVersion: v1\nkind: Pod\nmetadata: &m {name: a}\nspec:\n  containers:\n"
            "  - name: kube-apiserver\n    command: [kube-apiserver]\n",
            "(document)",
            "anchors and aliases",
            id="anchors",
        ),
    ],
)
def test_manifests_kaudit_cannot_patch_are_refused_with_a_clear_error(
    text: str, field: str, reason: str
) -> None:
    with pytest.raises(ManifestError) as caught:
        enable_audit(text, PATCH, source="kube-apiserver.yaml")
    assert caught.value.source == "kube-apiserver.yaml"
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value) == f"kube-apiserver.yaml: {field}: {caught.value.reason}"
    assert "Traceback" not in str(caught.value)


def test_disable_refuses_a_manifest_edited_since_enable() -> None:
    enabled = enable_audit(fixture_text("kubeadm-v1.34.yaml"), PATCH, source="a.yaml")
    edited = enabled.replace("    - --audit-log-maxage=30\n", "")
    with pytest.raises(ManifestError, match="edited since"):
        disable_audit(edited, source="a.yaml")


def test_disable_refuses_a_damaged_restore_record() -> None:
    enabled = enable_audit(fixture_text("kubeadm-v1.34.yaml"), PATCH, source="a.yaml")
    start = enabled.index("kaudit.io/restore: '") + len("kaudit.io/restore: '")
    damaged = enabled[:start] + "{not json" + enabled[start:]
    with pytest.raises(ManifestError) as caught:
        disable_audit(damaged, source="a.yaml")
    assert caught.value.field == "metadata.annotations.kaudit.io/restore"


@pytest.mark.parametrize(
    "change",
    [
        {"flags": (("--v", "2"),)},
        {"flags": (("--audit-log-path", "/a"), ("--audit-log-path", "/b"))},
        {"config_hash": ""},
    ],
)
def test_a_patch_that_is_not_kaudits_to_make_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"flag|config_hash"):
        dataclasses.replace(PATCH, **change)
