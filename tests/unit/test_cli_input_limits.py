"""The `kaudit` command on hostile file arguments: one clear line and exit 1, never a hang."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kaudit import cli
from kaudit.cli import EXIT_INTERNAL, run
from kaudit.limits import MAX_POLICY_BYTES
from tests.unit.policy_bombs import BAD_POLICIES, BOMB

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "auditconfig.yaml"


def kaudit(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([str(arg) for arg in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"rules: \xff\xfe\n")
    return {
        "fifo": (fifo, "not a regular file"),
        "device": (Path("/dev/zero"), "not a regular file"),
        "folder": (tmp_path, "is a folder"),
        "not UTF-8": (binary, "not UTF-8 text"),
        "missing": (tmp_path / "missing.yaml", "no such file"),
    }


SPECIAL = ["fifo", "device", "folder", "not UTF-8", "missing"]
COMMANDS = [
    ["policy", "validate"],
    ["policy", "lint"],
    ["manifest", "render", "--disable"],
    ["node", "status", "--host-root", "/nonexistent", "--config"],
]


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_a_special_file_argument_is_refused_in_one_line(
    tmp_path: Path, command: list[str], kind: str
) -> None:
    path, reason = special_files(tmp_path)[kind]
    code, _, err = kaudit(*command, path)
    assert code == 1
    assert err.count("\n") == 1, err
    if kind == "not UTF-8" and command[0] == "policy":
        # A policy file's bytes go to the policy reader, which decides encodings as
        # kube-apiserver does (UTF-16 is fine): bytes that are none is a policy error.
        assert err.startswith(f"error: {path}: not valid YAML: the bytes at offset ")
        assert "are not valid UTF-8" in err
        return
    assert err.startswith(f"kaudit: {path}: ")
    assert reason in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in BAD_POLICIES],
    ids=[name for name, _, _ in BAD_POLICIES],
)
@pytest.mark.parametrize("command", ["validate", "lint"])
def test_a_bad_policy_file_is_a_clear_error(
    tmp_path: Path, command: str, text: str, expected: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    code, _, err = kaudit("policy", command, policy)
    assert code == 1
    assert expected in err
    assert "Traceback" not in err


def test_one_unreadable_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    code, out, err = kaudit("policy", "validate", "/dev/zero", good)
    assert code == 1
    assert "/dev/zero: the policy file is not a regular file" in err
    assert f"{good}: valid" in out


def test_a_linked_argument_is_followed_since_the_user_named_it(tmp_path: Path) -> None:
    target = tmp_path / "policy.yaml"
    target.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert kaudit("policy", "validate", link) == (0, f"{link}: valid\n", "")


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\0" * (MAX_POLICY_BYTES + 10), "stdin: the policy file is over kaudit's limit"),
        (
            b"rules: \xff\n",
            "error: -: not valid YAML: the bytes at offset 7 (line 1, byte 0xff) are not valid",
        ),
        (BOMB.encode(), "excessive aliasing"),
    ],
    ids=["over the limit", "not UTF-8", "alias bomb"],
)
def test_stdin_is_read_within_the_limits(
    monkeypatch: pytest.MonkeyPatch, data: bytes, expected: str
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(data))
    code, _, err = kaudit("policy", "validate", "-")
    assert code == 1
    assert expected in err


def test_an_alias_bomb_as_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text() + "x: &a [*a]\n")
    code, _, err = kaudit(
        "manifest", "render", FIXTURES / "kubeadm-kube-apiserver.yaml", "--config", config
    )
    assert code == 1
    assert err.startswith(f"kaudit: {config}")


def test_an_unforeseen_failure_is_one_line_with_exit_70_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(argv: object, *, out: object, err: object) -> int:
        raise RecursionError("maximum recursion depth exceeded while calling a Python object")

    monkeypatch.setattr(cli, "run", broken)
    monkeypatch.setattr(sys, "argv", ["kaudit", "policy", "validate", "x"])
    with pytest.raises(SystemExit) as leaving:
        cli.main()
    assert leaving.value.code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err == (
        "kaudit: internal error: RecursionError: maximum recursion depth exceeded while "
        "calling a Python object (please report it)\n"
    )


def test_the_installed_command_on_a_fifo_ends_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-c", "from kaudit.cli import main; main()", "policy", "validate", fifo],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])},
    )
    assert done.returncode == 1
    assert (
        done.stderr
        == f"kaudit: {fifo}: the policy file is not a regular file (a FIFO, socket or device)\n"
    )
