"""The `kaudit` command: check policies, preview manifest changes, and run a node's operations.

Every failure a user can cause (a wrong argument, a bad or missing file) ends in one line on
stderr, starting with "kaudit: ", and a non-zero exit: 1 for invalid input, 2 for usage.

File arguments and stdin are read within kaudit's size limits (kaudit.limits), and a FIFO or a
device is refused instead of read: `kaudit policy validate /dev/zero` must not hang or fill the
memory. A symlink argument is followed, since the user named it; the node commands' host files
follow hostio/files.py's stricter rules. A failure kaudit did not foresee is still one line, with
exit code 70, from the backstop in main(): never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from kaudit import __version__
from kaudit.config import AuditConfig, ConfigError, load_audit_config_text
from kaudit.desired import DesiredState, EnabledState, desired_state
from kaudit.hostio.files import (
    HostError,
    HostLayout,
    apply_desired_state,
    describe_host,
    disable_audit_on_host,
    layout_for,
    layout_from_state,
)
from kaudit.limits import (
    MAX_AUDITCONFIG_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_POLICY_BYTES,
    InputRefusedError,
    decode_utf8,
    describe,
    read_limited_bytes,
)
from kaudit.manifest import ManifestError, disable_audit, enable_audit
from kaudit.policy import (
    PolicyError,
    PolicyProblem,
    check_policy_bytes,
    lint_policy,
    parse_policy_bytes,
    preset_names,
    preset_policy,
    render_policy,
)

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
# sysexits.h EX_SOFTWARE: kaudit itself failed.
EXIT_INTERNAL = 70


class UserError(Exception):
    """Something the user can fix; printed as one line."""


# --- policy ------------------------------------------------------------------------------


def _policy_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    for name in args.files:
        data = _read_each(name, err)
        if data is None:
            failed = True
            continue
        problems = check_policy_bytes(data, source=name)
        errors = [p for p in problems if p.severity == "error"]
        _print_problems(problems, err)
        if errors:
            failed = True
        else:
            print(f"{name}: valid", file=out)
    return EXIT_INVALID if failed else EXIT_OK


def _policy_lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = False
    for name in args.files:
        data = _read_each(name, err)
        if data is None:
            failed = True
            continue
        problems = check_policy_bytes(data, source=name)
        if any(p.severity == "error" for p in problems):
            _print_problems(problems, err)
            failed = True
            continue
        warnings = [*problems, *lint_policy(parse_policy_bytes(data, source=name), source=name)]
        _print_problems(warnings, err, as_errors=args.strict)
        if warnings and args.strict:
            failed = True
        elif not warnings:
            print(f"{name}: no warnings", file=out)
    return EXIT_INVALID if failed else EXIT_OK


def _read_each(name: str, err: TextIO) -> bytes | None:
    """One of several policy files: a file that cannot be read does not stop the others.

    Bytes, not text: the policy reader decides the encoding as kube-apiserver does (a file
    that starts with `{` is JSON, a UTF-16 BOM is honoured)."""
    try:
        return _read_input_bytes(name, limit=MAX_POLICY_BYTES, what="policy file")
    except UserError as error:
        print(f"kaudit: {error}", file=err)
        return None


def _policy_preset(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.name not in preset_names():
        raise UserError(f"unknown preset {args.name!r}; known presets: {', '.join(preset_names())}")
    out.write(render_policy(preset_policy(args.name)))
    return EXIT_OK


def _print_problems(
    problems: Sequence[PolicyProblem], err: TextIO, *, as_errors: bool = False
) -> None:
    for problem in problems:
        severity = "error" if as_errors else problem.severity
        print(f"{severity}: {problem}", file=err)


# --- manifest ----------------------------------------------------------------------------


def _manifest_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    original = _read_input(args.manifest, limit=MAX_MANIFEST_BYTES, what="manifest")
    if args.disable:
        rendered = disable_audit(original, source=args.manifest)
    else:
        desired = _desired_from_args(args)
        if isinstance(desired, EnabledState):
            rendered = enable_audit(original, desired.patch, source=args.manifest)
        else:
            rendered = disable_audit(original, source=args.manifest)
    if args.diff:
        out.writelines(
            difflib.unified_diff(
                original.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                fromfile=f"{args.manifest} (now)",
                tofile=f"{args.manifest} (kaudit)",
            )
        )
    else:
        out.write(rendered)
    return EXIT_OK


# --- node --------------------------------------------------------------------------------


def _node_apply(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    desired = _desired_from_args(args)
    result = apply_desired_state(layout_for(desired, root=Path(args.host_root)), desired)
    _print_json(
        {
            "changed": result.changed,
            "message": result.message,
            "configHash": result.config_hash,
            "manifestBackup": result.manifest_backup,
            "policyBackup": result.policy_backup,
        },
        out,
    )
    return EXIT_OK


def _node_disable(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    layout = _layout_for_args(args)
    result = disable_audit_on_host(layout)
    _print_json(
        {
            "changed": result.changed,
            "message": result.message,
            "manifestBackup": result.manifest_backup,
            "policyBackup": result.policy_backup,
        },
        out,
    )
    return EXIT_OK


def _node_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _print_json(describe_host(_layout_for_args(args)).as_json(), out)
    return EXIT_OK


def _layout_for_args(args: argparse.Namespace) -> HostLayout:
    root = Path(args.host_root)
    if not args.config:
        return layout_from_state(root=root)
    spec = _load_config(args.config).spec
    return HostLayout(root=root, paths=spec.host_paths, log_file_name=Path(spec.log.path).name)


def _desired_from_args(args: argparse.Namespace) -> DesiredState:
    config = _load_config(args.config)
    return desired_state(config.spec, source=args.config, config_map_text=_policy_override(args))


def _policy_override(args: argparse.Namespace) -> str | None:
    name = getattr(args, "policy_file", None)
    return _read_policy_input(name) if name else None


def _load_config(name: str) -> AuditConfig:
    text = _read_input(name, limit=MAX_AUDITCONFIG_BYTES, what="AuditConfig file")
    return load_audit_config_text(text, source=name)


def _print_json(data: object, out: TextIO) -> None:
    json.dump(data, out, indent=2, sort_keys=True)
    out.write("\n")


def _read_policy_input(name: str) -> str:
    return _read_input(name, limit=MAX_POLICY_BYTES, what="policy file")


def _read_input(name: str, *, limit: int, what: str) -> str:
    """A file argument's text (or stdin's for "-"), bytes kept, within `limit`."""
    data = _read_input_bytes(name, limit=limit, what=what)
    try:
        return decode_utf8(data, source="stdin" if name == "-" else name, what=what)
    except InputRefusedError as error:
        raise UserError(f"{error.source}: {error.reason}") from None


def _read_input_bytes(name: str, *, limit: int, what: str) -> bytes:
    if name == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise UserError(
                f"stdin: the {what} is over kaudit's limit of {limit} bytes ({describe(limit)})"
            )
        return data
    if "\0" in name:
        raise UserError(f"{name!r}: the path contains a NUL byte")
    try:
        # The user named this file, so a symlink is followed (read_limited_bytes would not).
        data = read_limited_bytes(Path(os.path.realpath(name)), limit=limit, what=what)
    except InputRefusedError as error:
        raise UserError(f"{name}: {error.reason}") from None
    except OSError as error:
        raise UserError(f"{name}: {error.strerror or error}") from None
    if data is None:
        raise UserError(f"{name}: no such file")
    return data


# --- long-running roles ------------------------------------------------------------------


def _controller(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Lazy: the offline commands (policy, manifest, node) never load kopf or the client.
    from kaudit.roles import run_controller  # noqa: PLC0415

    service = None
    if args.webhook_service:
        try:
            namespaced, port = args.webhook_service.rsplit(":", 1)
            namespace, name = namespaced.split("/", 1)
            service = (namespace, name, int(port))
        except ValueError:
            raise UserError(
                f"--webhook-service {args.webhook_service!r}: expected NAMESPACE/NAME:PORT"
            ) from None
    run_controller(
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
        webhook_port=args.webhook_port,
        webhook_url_host=args.webhook_url_host,
        webhook_service=service,
        liveness=args.liveness,
    )
    return EXIT_OK


def _agent(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from kaudit.roles import run_agent  # noqa: PLC0415

    node_name = args.node_name or os.environ.get("NODE_NAME")
    if not node_name:
        raise UserError("agent needs --node-name or NODE_NAME (the downward API sets it)")
    run_agent(
        kubeconfig=args.kubeconfig,
        node_name=node_name,
        host_root=args.host_root,
        namespace=args.namespace,
        readyz_url=args.readyz_url,
        liveness=args.liveness,
    )
    return EXIT_OK


# --- parser ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line, without the usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"kaudit: {message} (see '{self.prog} --help')\n")


Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kaudit",
        description="Declarative, safe kube-apiserver audit logging for self-managed clusters.",
    )
    parser.add_argument("--version", action="version", version=f"kaudit {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", parser_class=_Parser)
    groups.required = True

    policy = groups.add_parser("policy", help="check audit policies and print presets")
    policy_commands = policy.add_subparsers(dest="command", metavar="SUBCOMMAND")
    policy_commands.required = True
    validate = policy_commands.add_parser(
        "validate",
        help="check policy files with kube-apiserver's own rules (exit 1 when one is invalid)",
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="policy file, or - for stdin")
    validate.set_defaults(handler=_policy_validate)
    lint = policy_commands.add_parser(
        "lint", help="warn about dead rules, recorded secret bodies, unknown groups"
    )
    lint.add_argument("files", nargs="+", metavar="FILE", help="policy file, or - for stdin")
    lint.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    lint.set_defaults(handler=_policy_lint)
    preset = policy_commands.add_parser("preset", help="print a preset as a Policy document")
    preset.add_argument("name", metavar="NAME", help=f"one of {', '.join(preset_names())}")
    preset.set_defaults(handler=_policy_preset)

    manifest = groups.add_parser("manifest", help="preview manifest changes (reads only)")
    manifest_commands = manifest.add_subparsers(dest="command", metavar="SUBCOMMAND")
    manifest_commands.required = True
    render = manifest_commands.add_parser(
        "render", help="print the kube-apiserver manifest as kaudit would write it"
    )
    render.add_argument("manifest", metavar="MANIFEST", help="kube-apiserver static-pod manifest")
    render.add_argument("--config", help="AuditConfig YAML file (required unless --disable)")
    render.add_argument("--policy-file", help="policy text for a spec.policy.configMapRef")
    render.add_argument("--disable", action="store_true", help="print the manifest restored")
    render.add_argument("--diff", action="store_true", help="print a unified diff instead")
    render.set_defaults(handler=_manifest_render)

    node = groups.add_parser("node", help="apply, disable or inspect audit logging on this host")
    node_commands = node.add_subparsers(dest="command", metavar="SUBCOMMAND")
    node_commands.required = True
    host_root_help = "folder the host's / is at (default /)"
    apply = node_commands.add_parser("apply", help="write the policy and patch the manifest")
    apply.add_argument("--config", required=True, help="AuditConfig YAML file")
    apply.add_argument("--policy-file", help="policy text for a spec.policy.configMapRef")
    apply.add_argument("--host-root", default="/", help=host_root_help)
    apply.set_defaults(handler=_node_apply)
    disable = node_commands.add_parser(
        "disable", help="remove kaudit's changes and restore what they replaced"
    )
    disable.add_argument("--config", help="AuditConfig whose host paths to use (default: recorded)")
    disable.add_argument("--host-root", default="/", help=host_root_help)
    disable.set_defaults(handler=_node_disable)
    status = node_commands.add_parser("status", help="print what is applied, as JSON")
    status.add_argument("--config", help="AuditConfig whose host paths to use (default: recorded)")
    status.add_argument("--host-root", default="/", help=host_root_help)
    status.set_defaults(handler=_node_status)

    controller = groups.add_parser(
        "controller", help="run the cluster-level controller and admission webhook"
    )
    _add_cluster_options(controller)
    controller.add_argument(
        "--webhook-service",
        help="NAMESPACE/NAME:PORT of the Service the API server calls the webhook through",
    )
    controller.add_argument(
        "--webhook-url-host",
        help="call the webhook at https://HOST:PORT instead (an API server outside the cluster)",
    )
    controller.add_argument("--webhook-port", type=int, default=8443, help="port to serve on")
    controller.set_defaults(handler=_controller)

    agent = groups.add_parser("agent", help="run the node agent for one control-plane node")
    _add_cluster_options(agent)
    agent.add_argument("--node-name", help="this node's name (default $NODE_NAME)")
    agent.add_argument("--host-root", default="/", help=host_root_help)
    agent.add_argument("--readyz-url", help="the local API server's /readyz (default: derived)")
    # The agent's own namespace (its Lease, its dry-run pod) is the privileged kaudit-node.
    agent.set_defaults(handler=_agent, namespace="kaudit-node")
    return parser


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster)")
    parser.add_argument("--namespace", default="kaudit-system", help="kaudit's namespace")
    parser.add_argument(
        "--liveness", help="serve a liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )


def run(argv: Sequence[str], *, out: TextIO, err: TextIO) -> int:
    """Run one command; returns the exit code. Tests call this; main() wraps it."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as leaving:
        return int(leaving.code or 0)
    if args.group == "manifest" and not args.disable and not args.config:
        print("kaudit: manifest render needs --config (or --disable)", file=err)
        return EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args, out, err)
    except (
        UserError,
        ConfigError,
        PolicyError,
        ManifestError,
        HostError,
        InputRefusedError,
    ) as error:
        for line in str(error).splitlines() or [type(error).__name__]:
            print(f"kaudit: {line}", file=err)
        return EXIT_INVALID
    except OSError as error:
        # A host write that the file system refused (read-only, full, permissions).
        where = f"{error.filename}: " if error.filename else ""
        print(f"kaudit: {where}{error.strerror or error}", file=err)
        return EXIT_INVALID


def main() -> NoReturn:
    try:
        code = run(sys.argv[1:], out=sys.stdout, err=sys.stderr)
        sys.stdout.flush()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_INVALID
    except Exception as error:  # the backstop, not the fix: every known failure is handled
        print(f"kaudit: internal error: {_one_line(error)} (please report it)", file=sys.stderr)
        code = EXIT_INTERNAL
    sys.exit(code)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
