"""The health gate's verdict from what was observed after a manifest write."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kaudit.agent.health import (
    HealthExpectation,
    HealthObservation,
    HealthVerdict,
    evaluate_health,
    tail_of_container_log,
)

WRITTEN = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
EXPECT = HealthExpectation(
    config_hash="sha256:new",
    written_at=WRITTEN,
    log_size_before=100,
    log_mtime_before=WRITTEN.timestamp() - 60,
    check_log=True,
)


def mirror_pod(*, config_hash: str | None, started: str | None, ready: bool) -> dict[str, Any]:
    annotations = {"kaudit.io/config-hash": config_hash} if config_hash else {}
    state: dict[str, Any] = (
        {"running": {"startedAt": started}}
        if started
        else {"waiting": {"reason": "CrashLoopBackOff"}}
    )
    return {
        "metadata": {"annotations": annotations},
        "status": {
            "containerStatuses": [{"name": "kube-apiserver", "ready": ready, "state": state}]
        },
    }


def observe(
    pod: dict[str, Any] | None,
    *,
    readyz: bool = True,
    size: int | None = 500,
    mtime: float | None = None,
    api_error: str | None = None,
) -> HealthObservation:
    return HealthObservation(
        mirror_pod=pod,
        api_error=api_error,
        readyz_ok=readyz,
        readyz_detail="HTTP 200 ok" if readyz else "not answering (connection refused)",
        log_size=size,
        log_mtime=WRITTEN.timestamp() + 5 if mtime is None else mtime,
    )


def test_new_config_restarted_ready_answering_and_logging_is_healthy() -> None:
    verdict = evaluate_health(
        observe(mirror_pod(config_hash="sha256:new", started="2026-11-26T12:00:09Z", ready=True)),
        EXPECT,
    )
    assert verdict.healthy
    assert verdict.first_failure == ""


def test_the_old_pod_still_running_is_not_healthy_and_says_so() -> None:
    verdict = evaluate_health(
        observe(mirror_pod(config_hash="sha256:old", started="2026-11-26T11:00:00Z", ready=True)),
        EXPECT,
    )
    assert not verdict.healthy
    assert not verdict.annotation_moved
    assert "sha256:old" in verdict.first_failure


def test_a_container_started_before_the_write_is_not_the_new_one() -> None:
    verdict = evaluate_health(
        observe(mirror_pod(config_hash="sha256:new", started="2026-11-26T11:59:00Z", ready=True)),
        EXPECT,
    )
    assert not verdict.healthy
    assert "before the write" in verdict.first_failure


def test_a_crash_looping_api_server_is_reported_with_the_reason() -> None:
    verdict = evaluate_health(
        observe(mirror_pod(config_hash="sha256:new", started=None, ready=False), readyz=False),
        EXPECT,
    )
    assert "CrashLoopBackOff" in verdict.first_failure


def test_an_unreachable_api_is_named_as_such() -> None:
    verdict = evaluate_health(
        observe(None, readyz=False, api_error="API not answering: connection refused"), EXPECT
    )
    assert verdict.first_failure.startswith("mirror pod has the new config: API not answering")


def test_an_audit_log_that_does_not_grow_fails_the_gate() -> None:
    pod = mirror_pod(config_hash="sha256:new", started="2026-11-26T12:00:09Z", ready=True)
    verdict = evaluate_health(observe(pod, size=100, mtime=WRITTEN.timestamp() - 60), EXPECT)
    assert not verdict.healthy
    assert verdict.first_failure.startswith("audit log is written")


def test_disabling_does_not_wait_for_audit_events() -> None:
    off = HealthExpectation(
        config_hash=None,
        written_at=WRITTEN,
        log_size_before=None,
        log_mtime_before=None,
        check_log=False,
    )
    verdict = evaluate_health(
        observe(
            mirror_pod(config_hash=None, started="2026-11-26T12:00:09Z", ready=True), size=None
        ),
        off,
    )
    assert verdict.healthy


def test_the_last_container_log_lines_come_from_the_newest_restart(tmp_path: Path) -> None:
    folder = tmp_path / "kube-system_kube-apiserver-cp-1_0123" / "kube-apiserver"
    folder.mkdir(parents=True)
    (folder / "0.log").write_text("2026-11-26T11:00:00Z stderr F old run\n")
    newest = folder / "1.log"
    newest.write_text(
        "2026-11-26T12:00:01Z stderr F starting\n"
        "2026-11-26T12:00:02Z stderr F E1126 loading audit policy file: open /etc/x: no such file\n"
    )
    tail = tail_of_container_log(tmp_path, pod_name="kube-apiserver-cp-1")
    assert "loading audit policy file" in tail
    assert "old run" not in tail


def test_a_failed_gate_names_every_step_that_does_not_hold() -> None:
    verdict = HealthVerdict(
        healthy=False,
        steps=(
            ("mirror pod has the new config", False, "annotation (none)"),
            ("kube-apiserver container restarted and Ready", True, "Ready"),
            ("/readyz answers ok", False, "not answering (refused)"),
        ),
    )
    assert verdict.failures == (
        "mirror pod has the new config: annotation (none); "
        "/readyz answers ok: not answering (refused)"
    )
