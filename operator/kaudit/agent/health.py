"""Did the API server come back with the change, healthy and auditing?

After a manifest write the kubelet stops the old kube-apiserver and starts a new one. The gate
passes only when all of these hold:

1. the mirror pod (kube-system/<static pod name>-<node>) carries the config hash annotation we
   wrote, so the kubelet runs the new manifest and not the old one;
2. its kube-apiserver container started after the write and is Ready: as the kubelet reports
   it on the mirror pod or, while that report lags, as the node shows it (below);
3. the node's API server answers /readyz with "ok";
4. when auditing is on, the audit log file is written to after the write.

A known kubelet bug can leave a static pod running the old manifest after a change
(kubernetes/kubernetes#109596); the gate notices that the annotation does not move and the
agent nudges the kubelet by writing the manifest again, instead of waiting forever.

The kubelet of a kubeadm control-plane node reports container status through its own node's API
server, the one that just restarted. After a long outage (a crash-looping server that was rolled
back) its pod watch can take a minute or more to resume (client-go's back-off), and the mirror
pod carries no status at all meanwhile (or, when the manifest is the one that ran before, the
old container's), while the API server is long up. Normally the kubelet reports the new
container Ready 10-30 s after /readyz first answers ok (its startup probe, then the status sync),
and the gate waits for that. When /readyz has answered ok for KUBELET_REPORT_GRACE_SECONDS and
the kubelet has still reported nothing about a container started after the write, step 2 holds
on what the node itself shows: the new static pod's kube-apiserver container (its log folder is
named after the mirror pod's `kubernetes.io/config.mirror` UID) has written its log since the
write, and /readyz, the very endpoint the kubelet's readiness probe asks, answers ok. Once the
kubelet reports the new container, its word holds (started but not yet Ready is not Ready).
Without this, a healthy API server was rolled back when the kubelet was slow to say so.
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from kaudit.manifest import ANNOTATION_CONFIG_HASH
from kaudit.rollout.turn import parse_time


@dataclass(frozen=True, kw_only=True)
class HealthExpectation:
    config_hash: str | None
    written_at: datetime
    log_size_before: int | None
    log_mtime_before: float | None
    check_log: bool


@dataclass(frozen=True, kw_only=True)
class HealthObservation:
    mirror_pod: Mapping[str, Any] | None
    api_error: str | None
    readyz_ok: bool
    readyz_detail: str
    log_size: int | None
    log_mtime: float | None
    # When the mirror pod's static pod last wrote its kube-apiserver container log on this node.
    container_log_mtime: float | None = None
    # How long /readyz has answered ok in a row, as far as the gate has watched.
    readyz_ok_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class HealthVerdict:
    healthy: bool
    steps: tuple[tuple[str, bool, str], ...]

    @property
    def first_failure(self) -> str:
        for name, ok, detail in self.steps:
            if not ok:
                return f"{name}: {detail}"
        return ""

    @property
    def failures(self) -> str:
        """Every step that does not hold: while a node's own API server is down its kubelet
        cannot update the mirror pod, so the first failing step alone misleads."""
        return "; ".join(f"{name}: {detail}" for name, ok, detail in self.steps if not ok)

    @property
    def annotation_moved(self) -> bool:
        return bool(self.steps and self.steps[0][1])


# Container start times have a one-second resolution in the API; a start in the same second
# as the write still counts as after it.
_CLOCK_SLACK = timedelta(seconds=1)

# How long the kubelet may take to report a container that /readyz already shows up, before the
# gate goes by the node's own evidence (see above).
KUBELET_REPORT_GRACE_SECONDS = 30.0


def evaluate_health(observation: HealthObservation, expected: HealthExpectation) -> HealthVerdict:
    """Which of the four steps hold, each with what was seen."""
    steps: list[tuple[str, bool, str]] = []
    pod = observation.mirror_pod
    if pod is None:
        detail = observation.api_error or "no mirror pod for kube-apiserver on this node yet"
        steps.append(("mirror pod has the new config", False, detail))
        steps.append(("kube-apiserver container restarted and Ready", False, "no mirror pod"))
    else:
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        found = annotations.get(ANNOTATION_CONFIG_HASH)
        annotation_ok = found == expected.config_hash
        steps.append(
            (
                "mirror pod has the new config",
                annotation_ok,
                f"annotation {ANNOTATION_CONFIG_HASH}={found or '(none)'}, "
                f"want {expected.config_hash or '(none)'}",
            )
        )
        steps.append(_container_step(pod, observation, expected.written_at, annotation_ok))
    steps.append(("/readyz answers ok", observation.readyz_ok, observation.readyz_detail))
    if expected.check_log:
        steps.append(_log_step(observation, expected))
    return HealthVerdict(healthy=all(ok for _, ok, _ in steps), steps=tuple(steps))


def _container_step(
    pod: Mapping[str, Any],
    observation: HealthObservation,
    written_at: datetime,
    annotation_ok: bool,
) -> tuple[str, bool, str]:
    name = "kube-apiserver container restarted and Ready"
    ok, current, detail = _reported_container(pod, written_at)
    if ok or current:
        # Once the kubelet reports the container that started after the write, its word holds.
        return name, ok, detail
    log_mtime = observation.container_log_mtime
    if (
        annotation_ok
        and observation.readyz_ok
        and observation.readyz_ok_seconds >= KUBELET_REPORT_GRACE_SECONDS
        and log_mtime is not None
        and log_mtime + _CLOCK_SLACK.total_seconds() >= written_at.timestamp()
    ):
        return (
            name,
            True,
            "its container log on this node is written since the write and /readyz has"
            f" answered ok for {observation.readyz_ok_seconds:.0f} s; the kubelet's report lags:"
            f" {detail}",
        )
    return name, False, detail


def _reported_container(pod: Mapping[str, Any], written_at: datetime) -> tuple[bool, bool, str]:
    """What the kubelet reports on the mirror pod about the kube-apiserver container: whether
    it is the new one and Ready, whether the report is current (about a container at all, and
    not one that started before the write), and what it says."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    container = next(
        (c for c in statuses if c.get("name") == "kube-apiserver"),
        statuses[0] if len(statuses) == 1 else None,
    )
    if container is None:
        return False, False, "no status for the kube-apiserver container yet"
    running = (container.get("state") or {}).get("running") or {}
    started = running.get("startedAt")
    if not started:
        waiting = (container.get("state") or {}).get("waiting") or {}
        terminated = (container.get("state") or {}).get("terminated") or {}
        why = waiting.get("reason") or terminated.get("reason") or "not running"
        return False, True, f"container not running ({why})"
    started_at = parse_time(started)
    if started_at + _CLOCK_SLACK < written_at:
        return False, False, f"container started at {started}, before the write"
    if not container.get("ready"):
        return False, True, f"container started at {started} but is not Ready"
    return True, True, f"started at {started}, Ready"


def _log_step(observation: HealthObservation, expected: HealthExpectation) -> tuple[str, bool, str]:
    name = "audit log is written"
    if observation.log_size is None or observation.log_mtime is None:
        return name, False, "no audit log file yet"
    grew = (
        expected.log_size_before is None
        or expected.log_mtime_before is None
        or observation.log_mtime > expected.log_mtime_before
        or observation.log_size != expected.log_size_before
    )
    written_after = observation.log_mtime >= expected.written_at.timestamp() - 1
    if grew and written_after:
        return name, True, f"{observation.log_size} bytes"
    return name, False, f"no new audit events since the write ({observation.log_size} bytes)"


# --- gathering (I/O) ---------------------------------------------------------------------


def probe_readyz(url: str, *, ca_file: str | None, timeout: float = 5.0) -> tuple[bool, str]:
    """GET /readyz; anonymous access to it is allowed by kube-apiserver's default RBAC."""
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    if not ca_file:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            body = response.read(200).decode("utf-8", "replace").strip()
            return response.status == 200 and body == "ok", f"HTTP {response.status} {body}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return False, f"not answering ({reason})"


# The kubelet names a static pod's mirror after the static pod's own UID, which also names the
# pod's log folder on the node.
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def static_pod_uid(mirror_pod: Mapping[str, Any] | None) -> str | None:
    annotations = ((mirror_pod or {}).get("metadata") or {}).get("annotations") or {}
    uid = annotations.get(MIRROR_POD_ANNOTATION)
    return uid if isinstance(uid, str) and uid else None


def container_log_mtime(pod_log_root: Path, *, pod_name: str, pod_uid: str) -> float | None:
    """When that static pod's kube-apiserver container last wrote its log on this node."""
    folder = pod_log_root / f"kube-system_{pod_name}_{pod_uid}" / "kube-apiserver"
    try:
        return max((log.stat().st_mtime for log in folder.glob("*.log")), default=None)
    except OSError:
        return None


_LOG_TAIL_BYTES = 64 * 1024


def tail_of_container_log(pod_log_root: Path, *, pod_name: str, lines: int = 12) -> str:
    """The last lines the kube-apiserver container wrote, from the node's pod log folder.

    The kubelet keeps them in /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
    even after the API server crashed, which is when they matter.
    """
    try:
        folders = [
            p for p in pod_log_root.iterdir() if p.name.startswith(f"kube-system_{pod_name}_")
        ]
        logs = [log for folder in folders for log in (folder / "kube-apiserver").glob("*.log")]
    except OSError:
        return ""
    if not logs:
        return ""
    newest = max(logs, key=lambda p: p.stat().st_mtime)
    try:
        # Only the end: a container log may be 10 MiB before the kubelet rotates it.
        with newest.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _LOG_TAIL_BYTES))
            text = handle.read(_LOG_TAIL_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""
    # CRI log lines: "<time> <stream> <tag> <message>"; keep the message.
    messages = [line.split(" ", 3)[-1] for line in text.splitlines()[-lines:]]
    return "\n".join(messages)
