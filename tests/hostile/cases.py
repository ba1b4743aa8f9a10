"""Which hostile input goes to which target, and what is expected of it.

"refused" means kube-apiserver would not load it (or kaudit must not act on it: a path outside
the audit folders), so kaudit must refuse it with a clear error; "any" means a clean refusal and
an acceptance are both fine, as long as neither crashes, hangs, exhausts memory or writes where
it must not (tests.hostile.suite judges that).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from tests.hostile import inputs
from tests.hostile.harness import Limits, can_mount
from tests.hostile.targets import (
    KIB,
    KUBEADM_MANIFEST,
    MIB,
    Case,
    Expectation,
    Prepared,
    agent_target,
    audit_config_body,
    cli_target,
    default_layout,
    enable_in_parent,
    make_host,
    pending_change_gone,
    secret_not_copied,
    webhook_target,
)

# --- the inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PolicyInput:
    id: str
    make: Callable[[], bytes]
    expect: Expectation
    # False: the text cannot reach the API (a ConfigMap holds at most 1 MiB of UTF-8).
    via_api: bool = True


POLICIES: tuple[PolicyInput, ...] = (
    PolicyInput(
        id="alias-bomb-462B",
        make=lambda: inputs.billion_laughs(levels=7, fanout=9, size=462),
        expect="refused",
    ),
    PolicyInput(
        id="alias-bomb-624B",
        make=lambda: inputs.billion_laughs(levels=9, fanout=9, size=624),
        expect="refused",
    ),
    PolicyInput(
        id="alias-bomb-10^4-strings",
        make=lambda: inputs.billion_laughs(levels=4, fanout=10),
        expect="any",
    ),
    PolicyInput(id="merge-key-bomb", make=lambda: inputs.merge_key_bomb(levels=40), expect="any"),
    PolicyInput(id="recursive-alias-sequence", make=inputs.recursive_alias, expect="refused"),
    PolicyInput(
        id="recursive-alias-mapping", make=inputs.recursive_mapping_alias, expect="refused"
    ),
    PolicyInput(id="bomb-in-second-document", make=inputs.bomb_in_second_document, expect="any"),
    PolicyInput(
        id="policy-just-under-1MiB",
        make=lambda: inputs.huge_policy(size=MIB - 16 * KIB),
        expect="any",
    ),
    PolicyInput(
        id="policy-1MiB-plus", make=lambda: inputs.huge_policy(size=MIB + KIB), expect="refused"
    ),
    PolicyInput(
        id="policy-50MB",
        make=lambda: inputs.huge_policy(size=50 * 1000 * 1000),
        expect="refused",
        via_api=False,
    ),
    PolicyInput(id="deep-flow-sequence-100", make=lambda: inputs.deep_flow_yaml(100), expect="any"),
    PolicyInput(
        id="deep-flow-sequence-10000", make=lambda: inputs.deep_flow_yaml(10000), expect="refused"
    ),
    PolicyInput(
        id="deep-flow-mapping-10000",
        make=lambda: inputs.deep_flow_mapping_yaml(10000),
        expect="refused",
    ),
    PolicyInput(
        id="deep-block-mapping-600", make=lambda: inputs.deep_block_yaml(600), expect="any"
    ),
    PolicyInput(
        id="deep-block-sequence-5000",
        make=lambda: inputs.deep_block_sequence_yaml(5000),
        expect="any",
    ),
    PolicyInput(id="deep-json-object-500", make=lambda: inputs.deep_json(500), expect="any"),
    PolicyInput(
        id="deep-json-object-100000", make=lambda: inputs.deep_json(100000), expect="refused"
    ),
    PolicyInput(
        id="deep-json-array-100000", make=lambda: inputs.deep_json_list(100000), expect="refused"
    ),
    # kube-apiserver v1.34.4 loads it: go-yaml v2 keeps a number strconv cannot parse as text,
    # so it is a user name like any other. Parity, not a crash, is what counts.
    PolicyInput(
        id="integer-5000-digits-as-user", make=lambda: inputs.long_integer(5000), expect="any"
    ),
    PolicyInput(
        id="integer-5000-digits-unknown-field",
        make=lambda: inputs.long_integer_unknown_field(5000),
        expect="any",
    ),
    PolicyInput(
        id="hex-integer-5000-digits", make=lambda: inputs.long_hex_integer(5000), expect="any"
    ),
    PolicyInput(id="float-5000-digits", make=lambda: inputs.long_float(5000), expect="any"),
    PolicyInput(id="scalar-900KiB", make=lambda: inputs.long_scalar(900 * KIB), expect="any"),
    PolicyInput(
        id="scalar-2MiB", make=lambda: inputs.long_scalar(2 * MIB), expect="refused", via_api=False
    ),
    PolicyInput(id="key-100KiB", make=lambda: inputs.long_key(100 * KIB), expect="any"),
    PolicyInput(id="escapes-100000", make=lambda: inputs.long_quoted_escapes(100000), expect="any"),
    PolicyInput(id="rules-7175", make=lambda: inputs.many_rules(7175), expect="any"),
    PolicyInput(id="rules-10000", make=lambda: inputs.many_rules(10000), expect="any"),
    PolicyInput(
        id="rules-10000-all-shadowed",
        make=lambda: inputs.many_rules_same_selector(10000),
        expect="any",
    ),
    PolicyInput(id="keys-50000", make=lambda: inputs.many_keys(50000), expect="any"),
    PolicyInput(id="documents-100000", make=lambda: inputs.many_documents(100000), expect="any"),
    PolicyInput(
        id="spaces-500KiB", make=lambda: inputs.long_line_of_spaces(500 * KIB), expect="any"
    ),
    PolicyInput(id="unknown-tags", make=inputs.unknown_tags, expect="any"),
    PolicyInput(id="non-utf8", make=inputs.non_utf8, expect="refused", via_api=False),
    PolicyInput(id="utf16-with-bom", make=inputs.utf16_policy, expect="any", via_api=False),
    PolicyInput(id="nul-bytes", make=inputs.nul_bytes, expect="refused"),
    PolicyInput(id="control-characters", make=inputs.control_characters, expect="refused"),
)


def _text(make: Callable[[], bytes]) -> Callable[[], str]:
    # What a ConfigMap can carry: UTF-8 text (the API server replaces what is not).
    return lambda: make().decode("utf-8", "replace")


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _cli_policy_case(policy: PolicyInput, command: str) -> Case:
    def prepare(case_dir: Path) -> Prepared:
        path = _write(case_dir / "policy.yaml", policy.make())
        return Prepared(
            run=cli_target(["policy", command, str(path)]),
            limits=Limits(cwd=case_dir),
            names=(str(path),),
        )

    return Case(
        id=f"cli-policy-{command}-{policy.id}",
        target="cli",
        input=policy.id,
        expect=policy.expect,
        prepare=prepare,
    )


CONFIG_MAP_SPEC: Mapping[str, Any] = {
    "policy": {"configMapRef": {"name": "audit-policy", "key": "policy.yaml"}}
}


def _webhook_policy_case(policy: PolicyInput) -> Case:
    def prepare(case_dir: Path) -> Prepared:
        return Prepared(
            run=webhook_target(lambda: CONFIG_MAP_SPEC, _text(policy.make)),
            names=("ConfigMap", "audit-policy", "policy"),
        )

    return Case(
        id=f"webhook-configmap-{policy.id}",
        target="webhook",
        input=policy.id,
        expect=policy.expect,
        prepare=prepare,
    )


def _agent_policy_case(policy: PolicyInput) -> Case:
    def prepare(case_dir: Path) -> Prepared:
        root = make_host(case_dir)
        return Prepared(
            run=agent_target(root, lambda: CONFIG_MAP_SPEC, _text(policy.make)),
            names=("policy", "ConfigMap"),
        )

    return Case(
        id=f"agent-configmap-{policy.id}",
        target="agent",
        input=policy.id,
        expect=policy.expect,
        prepare=prepare,
    )


# --- file kinds (cli arguments and stdin) -------------------------------------------------


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _symlink(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


FILE_KINDS: tuple[tuple[str, Callable[[Path], Path], Expectation], ...] = (
    ("fifo", lambda d: _fifo(d / "policy.fifo"), "refused"),
    ("dev-zero", lambda d: Path("/dev/zero"), "refused"),
    ("dev-urandom", lambda d: Path("/dev/urandom"), "refused"),
    ("dev-null", lambda d: Path("/dev/null"), "any"),
    ("symlink-to-dev-zero", lambda d: _symlink(d / "zero.yaml", "/dev/zero"), "refused"),
    ("unix-socket", lambda d: _socket(d / "policy.sock"), "refused"),
    ("folder", lambda d: d, "refused"),
    (
        "symlink-to-a-policy",
        lambda d: _symlink(
            d / "link.yaml", str(_write(d / "real.yaml", inputs.VALID_POLICY.encode()))
        ),
        "any",
    ),
    ("symlink-dangling", lambda d: _symlink(d / "dangling.yaml", str(d / "nowhere")), "refused"),
    (
        "symlink-loop",
        lambda d: (
            _symlink(d / "b.yaml", str(d / "a.yaml")),
            _symlink(d / "a.yaml", str(d / "b.yaml")),
        )[1],
        "refused",
    ),
    ("missing-file", lambda d: d / "missing.yaml", "refused"),
    ("path-with-nul", lambda d: Path(str(d / "policy") + "\x00.yaml"), "refused"),
    ("path-too-long", lambda d: d / ("p" * 300 + ".yaml"), "refused"),
)


def _cli_file_kind_cases() -> Iterator[Case]:
    commands: list[tuple[str, Callable[[Path, Path], list[str]]]] = [
        ("policy-validate", lambda d, p: ["policy", "validate", str(p)]),
        ("manifest-render-disable", lambda d, p: ["manifest", "render", str(p), "--disable"]),
        (
            "node-apply-config",
            lambda d, p: ["node", "apply", "--config", str(p), "--host-root", str(d / "host")],
        ),
        (
            "node-apply-policy-file-arg",
            lambda d, p: [
                "node",
                "apply",
                "--config",
                str(_example_config_map_config(d)),
                "--policy-file",
                str(p),
                "--host-root",
                str(d / "host"),
            ],
        ),
    ]
    for kind, make, expect in FILE_KINDS:
        for command, argv in commands:

            def prepare(
                case_dir: Path,
                make: Callable[[Path], Path] = make,
                argv: Callable[[Path, Path], list[str]] = argv,
            ) -> Prepared:
                make_host(case_dir)
                path = make(case_dir)
                return Prepared(
                    run=cli_target(argv(case_dir, path)),
                    limits=Limits(cwd=case_dir),
                    names=(str(path).split("\x00")[0],),
                )

            yield Case(
                id=f"cli-{command}-{kind}",
                target="cli",
                input=kind,
                expect=expect,
                prepare=prepare,
            )


def _example_config_map_config(case_dir: Path) -> Path:
    return _write(
        case_dir / "configmap-config.json",
        json.dumps(audit_config_body(CONFIG_MAP_SPEC)).encode(),
    )


def _stdin_cases() -> Iterator[Case]:
    sources: list[tuple[str, Callable[[Path], Path], Expectation]] = [
        ("stdin-dev-zero", lambda d: Path("/dev/zero"), "refused"),
        (
            "stdin-alias-bomb-624B",
            lambda d: _write(d / "in", inputs.billion_laughs(levels=9, fanout=9, size=624)),
            "refused",
        ),
        (
            "stdin-policy-50MB",
            lambda d: _write(d / "in", inputs.huge_policy(size=50 * 1000 * 1000)),
            "refused",
        ),
        ("stdin-non-utf8", lambda d: _write(d / "in", inputs.non_utf8()), "refused"),
    ]
    for kind, make, expect in sources:

        def prepare(case_dir: Path, make: Callable[[Path], Path] = make) -> Prepared:
            return Prepared(
                run=cli_target(["policy", "validate", "-"]),
                limits=Limits(cwd=case_dir, stdin=make(case_dir)),
                names=("-", "stdin", "standard input"),
            )

        yield Case(
            id=f"cli-policy-validate-{kind}",
            target="cli",
            input=kind,
            expect=expect,
            prepare=prepare,
        )


# --- AuditConfig specs (paths, types, sizes) ----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SpecInput:
    id: str
    make: Callable[[], Mapping[str, Any]]
    expect: Expectation
    names: tuple[str, ...]


def _rules(count: int) -> list[dict[str, Any]]:
    return [{"level": "Metadata", "users": [f"user-{n}"], "verbs": ["get"]} for n in range(count)]


def _nested_list(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _host_path(name: str, key: str, value: str) -> SpecInput:
    return SpecInput(
        id=name,
        make=lambda: {"hostPaths": {key: value}},
        expect="refused",
        # The field, or the path itself (the agent names the host file it would not use).
        names=(key, value[:60]),
    )


SPECS: tuple[SpecInput, ...] = (
    _host_path(
        "policyFile-leading-//-in-manifests",
        "policyFile",
        "//etc/kubernetes/manifests/audit-policy.yaml",
    ),
    SpecInput(
        id="log.path-leading-//-in-pki",
        make=lambda: {"log": {"path": "//etc/kubernetes/pki/audit.log"}},
        expect="refused",
        names=("log.path", "path"),
    ),
    _host_path("logDir-host-root", "logDir", "/"),
    SpecInput(
        id="logDir-pki-log-named-sa.key",
        make=lambda: {
            "hostPaths": {"logDir": "/etc/kubernetes/pki"},
            "log": {"path": "/var/log/kubernetes/audit/sa.key"},
        },
        expect="refused",
        names=("logDir",),
    ),
    _host_path("logDir-dotdot-to-etc", "logDir", "/var/log/../../etc/kubernetes"),
    _host_path(
        "policyFile-dotdot-in-manifests", "policyFile", "/etc/kubernetes/audit/../manifests/p.yaml"
    ),
    _host_path("policyFile-in-pki", "policyFile", "/etc/kubernetes/pki/audit-policy.yaml"),
    _host_path("policyFile-relative", "policyFile", "etc/kubernetes/audit/p.yaml"),
    _host_path("policyFile-with-nul", "policyFile", "/etc/kubernetes/audit/p\x00.yaml"),
    _host_path("policyFile-5000-chars", "policyFile", "/etc/kubernetes/audit/" + "p" * 5000),
    _host_path("backupDir-dotdot-manifests", "backupDir", "/etc/kubernetes/tmp/../manifests"),
    _host_path("backupDir-//-pki", "backupDir", "//etc/kubernetes/pki"),
    _host_path(
        "manifest-dotdot-outside", "manifest", "/etc/kubernetes/manifests/../../../outside/m.yaml"
    ),
    SpecInput(
        id="wrong-types",
        make=lambda: {
            "hostPaths": [],
            "log": "x",
            "policy": 5,
            "rollout": {"healthTimeoutSeconds": "a"},
        },
        expect="refused",
        names=("spec",),
    ),
    SpecInput(
        id="maxAge-4000-digits",
        make=lambda: {"log": {"maxAge": int("9" * 4000)}},
        expect="refused",
        names=("maxAge",),
    ),
    SpecInput(
        id="inline-rules-7175",
        make=lambda: {"policy": {"rules": _rules(7175)}},
        expect="any",
        names=("rules",),
    ),
    SpecInput(
        id="inline-rules-10000",
        make=lambda: {"policy": {"rules": _rules(10000)}},
        expect="any",
        names=("rules",),
    ),
    SpecInput(
        id="inline-users-nested-900-deep",
        make=lambda: {"policy": {"rules": [{"level": "Metadata", "users": _nested_list(900)}]}},
        expect="refused",
        names=("users",),
    ),
    SpecInput(
        id="inline-lone-surrogate",
        make=lambda: {"policy": {"rules": [{"level": "Metadata", "users": ["\ud800"]}]}},
        expect="any",
        names=("users",),
    ),
    SpecInput(
        id="inline-user-900KiB",
        make=lambda: {"policy": {"rules": [{"level": "Metadata", "users": ["u" * 900 * KIB]}]}},
        expect="any",
        names=("users",),
    ),
    SpecInput(
        id="preset-name-100KiB",
        make=lambda: {"policy": {"preset": "P" * 100 * KIB}},
        expect="refused",
        names=("preset",),
    ),
)


def _spec_cases(spec: SpecInput) -> Iterator[Case]:
    def webhook(case_dir: Path) -> Prepared:
        return Prepared(run=webhook_target(spec.make), names=spec.names)

    def agent(case_dir: Path) -> Prepared:
        return Prepared(run=agent_target(make_host(case_dir), spec.make), names=spec.names)

    def cli(case_dir: Path) -> Prepared:
        root = make_host(case_dir)
        config = _write(
            case_dir / "config.json", json.dumps(audit_config_body(spec.make())).encode()
        )
        return Prepared(
            run=cli_target(["node", "apply", "--config", str(config), "--host-root", str(root)]),
            limits=Limits(cwd=case_dir),
            # A limit of the file's own reader (its size, its YAML nodes) names the file.
            names=(*spec.names, str(config)),
        )

    yield Case(
        id=f"webhook-spec-{spec.id}",
        target="webhook",
        input=spec.id,
        expect=spec.expect,
        prepare=webhook,
    )
    yield Case(
        id=f"agent-spec-{spec.id}", target="agent", input=spec.id, expect=spec.expect, prepare=agent
    )
    yield Case(
        id=f"cli-node-apply-spec-{spec.id}",
        target="cli",
        input=spec.id,
        expect=spec.expect,
        prepare=cli,
    )


def _config_text_cases() -> Iterator[Case]:
    """AuditConfig files themselves hostile (`--config`): bombs, depth, numbers."""
    bomb = (
        inputs.billion_laughs(levels=9, fanout=9).decode().split("\n", 2)[2].partition("rules:")[0]
    )
    texts: list[tuple[str, Callable[[], bytes]]] = [
        ("config-alias-bomb", lambda: inputs.audit_config(bomb + "enabled: true")),
        ("config-recursive-alias", lambda: inputs.audit_config("nodeSelector: &s {a: *s}")),
        ("config-deep-flow-10000", lambda: inputs.audit_config("x: " + "[" * 10000 + "]" * 10000)),
        (
            "config-maxAge-5000-digits",
            lambda: inputs.audit_config("log: {maxAge: " + "9" * 5000 + "}"),
        ),
        ("config-10MB", lambda: inputs.audit_config("x: " + "y" * 10 * 1000 * 1000)),
        ("config-non-utf8", lambda: inputs.audit_config("enabled: true") + b"\xff\xfe"),
    ]
    for kind, make in texts:

        def apply(case_dir: Path, make: Callable[[], bytes] = make) -> Prepared:
            root = make_host(case_dir)
            config = _write(case_dir / "config.yaml", make())
            return Prepared(
                run=cli_target(
                    ["node", "apply", "--config", str(config), "--host-root", str(root)]
                ),
                limits=Limits(cwd=case_dir),
                names=(str(config),),
            )

        def render(case_dir: Path, make: Callable[[], bytes] = make) -> Prepared:
            root = make_host(case_dir)
            config = _write(case_dir / "config.yaml", make())
            manifest = default_layout(root).manifest
            return Prepared(
                run=cli_target(["manifest", "render", str(manifest), "--config", str(config)]),
                limits=Limits(cwd=case_dir),
                names=(str(config),),
            )

        yield Case(
            id=f"cli-node-apply-{kind}", target="cli", input=kind, expect="refused", prepare=apply
        )
        yield Case(
            id=f"cli-manifest-render-{kind}",
            target="cli",
            input=kind,
            expect="refused",
            prepare=render,
        )


# --- hostile host files -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HostInput:
    id: str
    plant: Callable[[Path, Path], object]  # (case folder, host root)
    expect: Expectation
    names: tuple[str, ...]
    enabled_first: bool = False


def _manifest_path(root: Path) -> Path:
    return cast(Path, default_layout(root).manifest)


def _policy_path(root: Path) -> Path:
    return cast(Path, default_layout(root).policy_file)


def _state_path(root: Path) -> Path:
    return cast(Path, default_layout(root).state_file)


def _replace_with(path: Path, make: Callable[[Path], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    make(path)


def _manifest_text() -> str:
    return KUBEADM_MANIFEST.read_text()


def _plant_state(data: bytes) -> Callable[[Path, Path], None]:
    def plant(case_dir: Path, root: Path) -> None:
        _replace_with(_state_path(root), lambda p: p.write_bytes(data))

    return plant


def _policy_key(state: Mapping[str, Any]) -> str:
    # The state file records the paths under their Python names (policy_file): change the
    # recorded value, never add a field, so the path check is what refuses it.
    return "policy_file" if "policy_file" in state["hostPaths"] else "policyFile"


def _plant_state_pointing_outside(case_dir: Path, root: Path) -> None:
    """The review's case: the state says the manifest is at /../outside/..., a managed one."""
    enable_in_parent(root)
    outside = case_dir / "outside" / "kube-apiserver.yaml"
    outside.write_bytes(_manifest_path(root).read_bytes())
    state = json.loads(_state_path(root).read_text())
    state["hostPaths"]["manifest"] = "/../outside/kube-apiserver.yaml"
    state["hostPaths"][_policy_key(state)] = "/../outside/victim.txt"
    _state_path(root).write_text(json.dumps(state))


def _plant_state_pointing_at_pki(case_dir: Path, root: Path) -> None:
    enable_in_parent(root)
    state = json.loads(_state_path(root).read_text())
    state["hostPaths"][_policy_key(state)] = "//etc/kubernetes/pki/sa.key"
    _state_path(root).write_text(json.dumps(state))


def _plant_hard_link(name_of: Callable[[Path], Path]) -> Callable[[Path, Path], None]:
    def plant(case_dir: Path, root: Path) -> None:
        target = name_of(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(case_dir / "outside" / "victim.txt", target.with_name(f".{target.name}.kaudit-tmp"))

    return plant


Plant = Callable[[Path, Path], object]


def _on_manifest(name: str, plant: Plant, expect: Expectation = "refused") -> HostInput:
    return HostInput(id=name, plant=plant, expect=expect, names=("kube-apiserver.yaml",))


def _on_policy_file(name: str, plant: Plant, expect: Expectation = "refused") -> HostInput:
    names = ("apiserver-audit-policy.yaml", "symlink")
    return HostInput(id=name, plant=plant, expect=expect, names=names)


def _on_state(name: str, plant: Plant, expect: Expectation = "refused") -> HostInput:
    # On a host kaudit changed: the state file is what disable and status go by.
    names = ("kaudit-state.json",)
    return HostInput(id=name, plant=plant, expect=expect, names=names, enabled_first=True)


def _manifest_plus(make: Callable[[str], bytes]) -> Plant:
    return lambda d, r: _manifest_path(r).write_bytes(make(_manifest_text()))


HOSTS: tuple[HostInput, ...] = (
    _on_manifest("hard-link-at-manifest-temp-name", _plant_hard_link(_manifest_path), "any"),
    _on_policy_file("hard-link-at-policy-temp-name", _plant_hard_link(_policy_path), "any"),
    HostInput(
        id="hard-link-at-state-temp-name",
        plant=_plant_hard_link(_state_path),
        expect="any",
        names=("kaudit-state.json",),
    ),
    _on_policy_file(
        "policy-file-symlink-to-signing-key",
        lambda d, r: _replace_with(
            _policy_path(r), lambda p: p.symlink_to(r / "etc/kubernetes/pki/sa.key")
        ),
    ),
    _on_policy_file(
        "policy-file-symlink-dangling",
        lambda d, r: _replace_with(_policy_path(r), lambda p: p.symlink_to(r / "nowhere")),
    ),
    _on_policy_file(
        "policy-file-symlink-loop",
        lambda d, r: _replace_with(_policy_path(r), lambda p: p.symlink_to(p)),
    ),
    _on_policy_file("policy-file-fifo", lambda d, r: _replace_with(_policy_path(r), os.mkfifo)),
    _on_manifest(
        "manifest-symlink-to-victim",
        lambda d, r: _replace_with(
            _manifest_path(r), lambda p: p.symlink_to(d / "outside/victim.txt")
        ),
    ),
    _on_manifest("manifest-fifo", lambda d, r: _replace_with(_manifest_path(r), os.mkfifo)),
    _on_manifest(
        "manifest-symlink-to-dev-zero",
        lambda d, r: _replace_with(_manifest_path(r), lambda p: p.symlink_to("/dev/zero")),
    ),
    _on_manifest("manifest-alias-bomb", _manifest_plus(inputs.manifest_alias_bomb)),
    _on_manifest(
        "manifest-deep-flow-10000", _manifest_plus(lambda m: inputs.manifest_deep(10000, m))
    ),
    _on_manifest(
        "manifest-integer-5000-digits",
        _manifest_plus(lambda m: inputs.manifest_long_integer(m, 5000)),
        "any",
    ),
    _on_manifest(
        "manifest-2MiB", _manifest_plus(lambda m: m.encode() + b"#" + b"x" * 2 * MIB + b"\n")
    ),
    _on_manifest("manifest-non-utf8", _manifest_plus(lambda m: m.encode() + b"# \xff\xfe\n")),
    _on_state("state-deep-json-100000", _plant_state(inputs.state_deep_json(100000))),
    _on_state("state-integer-5000-digits", _plant_state(inputs.state_long_integer(5000))),
    _on_state("state-4MiB", _plant_state(b'{"x": "' + b"y" * 4 * MIB + b'"}\n')),
    _on_state("state-non-utf8", _plant_state(b'{"x": "\xff"}\n')),
    _on_state(
        "state-paths-wrong-types",
        _plant_state(inputs.state_with_paths(manifest=["a"], policyFile=5, logDir=None)),
        "any",
    ),
    _on_state("state-fifo", lambda d, r: _replace_with(_state_path(r), os.mkfifo)),
    _on_state(
        "state-symlink-to-victim",
        lambda d, r: _replace_with(
            _state_path(r), lambda p: p.symlink_to(d / "outside/victim.txt")
        ),
    ),
    HostInput(
        id="state-manifest-/../outside",
        plant=_plant_state_pointing_outside,
        expect="refused",
        names=("kaudit-state.json", "manifest", "policyFile"),
    ),
    HostInput(
        id="state-policyFile-//-pki-sa.key",
        plant=_plant_state_pointing_at_pki,
        expect="refused",
        names=("kaudit-state.json", "policyFile"),
    ),
)


def _host_cases(host: HostInput) -> Iterator[Case]:
    commands: list[tuple[str, list[str]]] = [
        ("node-apply", ["node", "apply", "--config", "{config}", "--host-root", "{root}"]),
        ("node-disable", ["node", "disable", "--host-root", "{root}"]),
        ("node-status", ["node", "status", "--host-root", "{root}"]),
    ]
    # The command that must read the planted file refuses it: apply reads the manifest and
    # the policy file, disable goes by the state file. The others, and status, which only
    # reports, must not crash, hang or write, but may answer.
    must_refuse = "node-disable" if host.id.startswith("state-") else "node-apply"
    for command, template in commands:
        expect: Expectation = host.expect if command == must_refuse else "any"

        def prepare(case_dir: Path, template: list[str] = template) -> Prepared:
            root = make_host(case_dir)
            if host.enabled_first:
                enable_in_parent(root)
            host.plant(case_dir, root)
            config = _write(case_dir / "config.json", json.dumps(audit_config_body({})).encode())
            argv = [part.format(config=config, root=root) for part in template]
            return Prepared(
                run=cli_target(argv),
                limits=Limits(cwd=case_dir),
                names=host.names,
                after=(secret_not_copied,),
            )

        yield Case(
            id=f"cli-{command}-{host.id}",
            target="cli",
            input=host.id,
            expect=expect,
            prepare=prepare,
        )

    def agent(case_dir: Path) -> Prepared:
        root = make_host(case_dir)
        if host.enabled_first:
            enable_in_parent(root)
        host.plant(case_dir, root)
        # State files matter when no AuditConfig says where the files are.
        spec: Callable[[], Mapping[str, Any]] | None = (
            None if host.id.startswith("state-") else (dict)
        )
        return Prepared(run=agent_target(root, spec), names=host.names, after=(secret_not_copied,))

    yield Case(id=f"agent-{host.id}", target="agent", input=host.id, expect="any", prepare=agent)


def _pending_change_cases() -> Iterator[Case]:
    from_text: list[tuple[str, Callable[[], bytes]]] = [
        ("pending-change-deep-json-100000", lambda: inputs.pending_change_deep(100000)),
        ("pending-change-wrong-types", inputs.pending_change_wrong_types),
        ("pending-change-non-utf8", lambda: b'{"manifestText": "\xff"}'),
    ]
    for kind, make in from_text:

        def prepare(case_dir: Path, make: Callable[[], bytes] = make) -> Prepared:
            from kaudit.host import PENDING_FILE_NAME  # noqa: PLC0415

            root = make_host(case_dir)
            _write(default_layout(root).backup_dir / PENDING_FILE_NAME, make())
            return Prepared(run=agent_target(root, dict), names=("pending",))

        yield Case(id=f"agent-{kind}", target="agent", input=kind, expect="any", prepare=prepare)

    def recovery(case_dir: Path) -> Prepared:
        """A bad ConfigMap policy must not stop the agent from undoing an unwritten change."""
        from kaudit.host import PENDING_FILE_NAME  # noqa: PLC0415

        root = make_host(case_dir)
        layout = default_layout(root)
        pending = {
            "manifestText": layout.manifest.read_text(),
            "policyText": None,
            "targetHash": "0123456789abcdef",
            "writtenAt": "2026-01-01T00:00:00Z",
        }
        _write(layout.backup_dir / PENDING_FILE_NAME, json.dumps(pending).encode())
        # What the crashed run had written before it stopped: the new policy file.
        _write(layout.policy_file, inputs.VALID_POLICY.encode())
        return Prepared(
            run=agent_target(root, lambda: CONFIG_MAP_SPEC, _text(inputs.recursive_alias)),
            names=("policy",),
            after=(pending_change_gone,),
            # Undoing the unwritten change takes the new policy file away again.
            may_change=(str(layout.policy_file.relative_to(case_dir)),),
        )

    yield Case(
        id="agent-recovery-despite-recursive-alias-configmap",
        target="agent",
        input="recursive-alias + unwritten pending change",
        expect="refused",
        prepare=recovery,
    )


# --- read-only and full file systems ------------------------------------------------------


def _node_command(
    command: str,
    *,
    enabled_first: bool,
    limits: Callable[[Path, Path], Limits],
    names: tuple[str, ...],
) -> Callable[[Path], Prepared]:
    def prepare(case_dir: Path) -> Prepared:
        root = make_host(case_dir)
        if enabled_first:
            enable_in_parent(root)
        config = _write(case_dir / "config.json", json.dumps(audit_config_body({})).encode())
        argv = ["node", command, *(["--config", str(config)] if command == "apply" else [])]
        return Prepared(
            run=cli_target([*argv, "--host-root", str(root)]),
            limits=limits(case_dir, root),
            names=names,
        )

    return prepare


def _file_system_cases() -> Iterator[Case]:
    need_root = (
        None if can_mount() else "a private read-only bind mount needs root (CI runs as root)"
    )
    for command, enabled_first in (("apply", False), ("disable", True)):
        yield Case(
            id=f"cli-node-{command}-read-only-file-system",
            target="cli",
            input="read-only file system",
            expect="refused",
            prepare=_node_command(
                command,
                enabled_first=enabled_first,
                limits=lambda case_dir, root: Limits(cwd=case_dir, read_only=root),
                names=("read-only", "etc/kubernetes"),
            ),
            skip=need_root,
        )
        yield Case(
            id=f"cli-node-{command}-full-file-system",
            target="cli",
            input="full file system (RLIMIT_FSIZE 1 KiB)",
            expect="refused",
            prepare=_node_command(
                command,
                enabled_first=enabled_first,
                # Past 1 KiB every write fails (EFBIG), as one on a full disk does (ENOSPC).
                limits=lambda case_dir, root: Limits(cwd=case_dir, file_size=KIB),
                names=("too large", "space", "etc/kubernetes"),
            ),
        )

    def odd_root(case_dir: Path) -> Prepared:
        root = make_host(case_dir)
        config = _write(case_dir / "config.json", json.dumps(audit_config_body({})).encode())
        odd = "/" + str(root.parent).replace("/", "//") + "/../" + root.parent.name + "/./host"
        return Prepared(
            run=cli_target(["node", "status", "--config", str(config), "--host-root", odd]),
            limits=Limits(cwd=case_dir),
            names=("host-root",),
        )

    yield Case(
        id="cli-node-status-host-root-with-//-and-..",
        target="cli",
        input="--host-root with // and ..",
        expect="any",
        prepare=odd_root,
    )


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for policy in POLICIES:
        cases.append(_cli_policy_case(policy, "validate"))
        cases.append(_cli_policy_case(policy, "lint"))
        if policy.via_api:
            cases.append(_webhook_policy_case(policy))
            cases.append(_agent_policy_case(policy))
    cases += _cli_file_kind_cases()
    cases += _stdin_cases()
    for spec in SPECS:
        cases += _spec_cases(spec)
    cases += _config_text_cases()
    for host in HOSTS:
        cases += _host_cases(host)
    cases += _pending_change_cases()
    cases += _file_system_cases()
    ids = [case.id for case in cases]
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    if duplicates:
        raise ValueError(f"case ids must be unique: {duplicates}")
    return cases
