"""The health gate's verdict from what was observed after a manifest write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kaudit.agent.observe import ReadyzStreak
from kaudit.hostio.probes import container_log_mtime, tail_of_container_log
from kaudit.rollout.health import (
    HealthExpectation,
    HealthObservation,
    HealthVerdict,
    evaluate_health,
    static_pod_uid,
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
    container_log_mtime: float | None = None,
    readyz_ok_seconds: float = 0.0,
) -> HealthObservation:
    return HealthObservation(
        mirror_pod=pod,
        api_error=api_error,
        readyz_ok=readyz,
        readyz_detail="HTTP 200 ok" if readyz else "not answering (connection refused)",
        log_size=size,
        log_mtime=WRITTEN.timestamp() + 5 if mtime is None else mtime,
        container_log_mtime=container_log_mtime,
        readyz_ok_seconds=readyz_ok_seconds,
    )


def kubelet_silent(
    *,
    config_hash: str = "sha256:new",
    log_since_write: float = 40,
    readyz: bool = True,
    readyz_ok_seconds: float = 31,
) -> HealthVerdict:
    """The gate's verdict while the kubelet has reported nothing about the new mirror pod."""
    return evaluate_health(
        observe(
            fresh_mirror_pod(config_hash),
            readyz=readyz,
            container_log_mtime=WRITTEN.timestamp() + log_since_write,
            readyz_ok_seconds=readyz_ok_seconds,
        ),
        EXPECT,
    )


def fresh_mirror_pod(config_hash: str) -> dict[str, Any]:
    """A mirror pod the kubelet has just created: annotations, and no status yet."""
    return {
        "metadata": {
            "annotations": {
                "kaudit.io/config-hash": config_hash,
                "kubernetes.io/config.mirror": "b4b733314ed11a4bf1624a79c8dc9eaf",
            }
        },
        "status": {},
    }


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


def test_an_api_server_up_while_the_kubelet_has_not_reported_it_passes() -> None:
    """CI saw this: after a rollback the kubelet's pod watch lagged ~80 s behind its restarted
    API server; the new mirror pod had no status while /readyz and the audit log were fine, and
    the gate used to roll back a healthy API server."""
    verdict = kubelet_silent()
    assert verdict.healthy, verdict.failures
    container = {name: detail for name, _, detail in verdict.steps}[
        "kube-apiserver container restarted and Ready"
    ]
    assert container == (
        "its container log on this node is written since the write and /readyz has answered ok"
        " for 31 s; the kubelet's report lags: no status for the kube-apiserver container yet"
    )


def test_the_node_shows_no_new_container_when_its_log_is_older_than_the_write() -> None:
    verdict = kubelet_silent(log_since_write=-30)
    assert not verdict.healthy
    assert verdict.failures == (
        "kube-apiserver container restarted and Ready: "
        "no status for the kube-apiserver container yet"
    )


def test_a_container_log_without_readyz_ok_is_not_ready() -> None:
    """A crash-looping server writes its log too; only /readyz says it serves."""
    verdict = kubelet_silent(readyz=False)
    assert not verdict.healthy
    assert "kube-apiserver container restarted and Ready: no status" in verdict.failures


def test_node_evidence_never_stands_in_for_the_old_config() -> None:
    verdict = kubelet_silent(config_hash="sha256:old")
    assert not verdict.healthy
    assert not verdict.annotation_moved
    assert "kube-apiserver container restarted and Ready: no status" in verdict.failures


def test_the_container_log_is_found_by_the_mirror_pods_static_pod_uid(tmp_path: Path) -> None:
    uid = static_pod_uid(fresh_mirror_pod("sha256:new"))
    assert uid == "b4b733314ed11a4bf1624a79c8dc9eaf"
    other = tmp_path / "kube-system_kube-apiserver-cp-1_9dd143eb" / "kube-apiserver"
    other.mkdir(parents=True)
    (other / "0.log").write_text("older pod\n")
    assert container_log_mtime(tmp_path, pod_name="kube-apiserver-cp-1", pod_uid=uid) is None
    folder = tmp_path / f"kube-system_kube-apiserver-cp-1_{uid}" / "kube-apiserver"
    folder.mkdir(parents=True)
    log = folder / "0.log"
    log.write_text("2026-11-27T00:32:08Z stderr F starting\n")
    assert container_log_mtime(
        tmp_path, pod_name="kube-apiserver-cp-1", pod_uid=uid
    ) == pytest.approx(log.stat().st_mtime)
    assert static_pod_uid({"metadata": {}}) is None
    assert static_pod_uid(None) is None


def test_the_kubelets_current_report_holds_over_the_node() -> None:
    """The kubelet has seen the new container and says it is not Ready yet: wait for it."""
    pod = mirror_pod(config_hash="sha256:new", started="2026-11-26T12:00:36Z", ready=False)
    verdict = evaluate_health(
        observe(pod, container_log_mtime=WRITTEN.timestamp() + 40, readyz_ok_seconds=31), EXPECT
    )
    assert not verdict.healthy
    assert verdict.failures == (
        "kube-apiserver container restarted and Ready: "
        "container started at 2026-11-26T12:00:36Z but is not Ready"
    )


def test_a_stale_report_of_the_container_before_the_write_gives_way_to_the_node() -> None:
    """Rolled back to the manifest that ran before: the mirror pod still shows the container
    that the first write stopped, until the kubelet's watch resumes."""
    pod = mirror_pod(config_hash="sha256:new", started="2026-11-26T11:55:00Z", ready=True)
    verdict = evaluate_health(
        observe(pod, container_log_mtime=WRITTEN.timestamp() + 12, readyz_ok_seconds=31), EXPECT
    )
    assert verdict.healthy, verdict.failures


def test_the_kubelet_gets_its_time_to_report_before_the_node_is_believed() -> None:
    """Normally the kubelet reports the new container Ready 10-30 s after /readyz answers ok:
    the gate waits for that, as a user reading `kubectl get pod` would."""
    within = kubelet_silent(readyz_ok_seconds=29)
    assert not within.healthy
    assert within.failures == (
        "kube-apiserver container restarted and Ready: "
        "no status for the kube-apiserver container yet"
    )
    assert kubelet_silent(readyz_ok_seconds=30).healthy


def test_the_readyz_streak_restarts_when_readyz_fails() -> None:
    start = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
    at = [start + timedelta(seconds=s) for s in (0.0, 12.5, 30.0, 31.0, 40.0)]
    streak = ReadyzStreak()
    assert streak.seen("gate", True, at[0]) == 0.0
    assert streak.seen("gate", True, at[1]) == 12.5
    assert streak.seen("gate", False, at[2]) == 0.0
    assert streak.seen("gate", True, at[3]) == 0.0
    assert streak.seen("gate", True, at[4]) == 9.0
    # Another gate (another change watched) starts its own streak.
    assert streak.seen("next gate", True, at[4]) == 0.0