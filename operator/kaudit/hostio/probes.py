"""What the health gate gathers on the node itself: /readyz, and the kubelet's container logs.

These are the agent's only reads outside the host layer's files and the Kubernetes API; they
sit behind `NodeProbes` so that the model test can give each simulated node its own.
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class NodeProbes(Protocol):
    def readyz(self, url: str) -> tuple[bool, str]: ...
    def container_log_mtime(self, pod_name: str, pod_uid: str) -> float | None: ...
    def container_log_tail(self, pod_name: str) -> str: ...


@dataclass(frozen=True, kw_only=True)
class HostProbes:
    """The real probes: HTTPS to the node's API server, the kubelet's pod log folder."""

    pod_log_root: Path
    ca_file: str | None

    def readyz(self, url: str) -> tuple[bool, str]:
        return probe_readyz(url, ca_file=self.ca_file)

    def container_log_mtime(self, pod_name: str, pod_uid: str) -> float | None:
        return container_log_mtime(self.pod_log_root, pod_name=pod_name, pod_uid=pod_uid)

    def container_log_tail(self, pod_name: str) -> str:
        return tail_of_container_log(self.pod_log_root, pod_name=pod_name)


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
