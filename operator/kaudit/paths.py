"""Where on a control-plane host kaudit may write: one canonical form and one allow-list.

Every host or container path kaudit uses comes from someone else: the AuditConfig spec (anyone
who may edit it), or kaudit's own state file on the host (anyone who can write there). A path
that only looks right is the attack: `posixpath.normpath` keeps a leading `//`, so
`//etc/kubernetes/manifests/x.yaml` once passed a "not in the manifests folder" check that
compared strings. So a path is first refused unless it is already in canonical form (absolute,
no empty, `.` or `..` component, no trailing slash, no control or invisible character, bounded
length): the user sees the path kaudit will use exactly as written, and every later check can
compare strings. The canonical form is shown in the refusal, never applied silently.

Then each path has a place it may be (kubeadm's layout, which fixes these folders):

* the manifest: a file directly in the kubelet's manifests folder /etc/kubernetes/manifests;
* the policy file (and any other file kube-apiserver is to read): in a folder of its own under
  /etc/kubernetes/, never the manifests folder (the kubelet would run it as a pod), pki/ (the
  cluster's keys) or tmp/ (kubeadm's upgrade backups and etcd snapshots);
* the log folder on the host and the log file in the container: in a folder of its own under
  /var/log/, not /var/log itself (it would be mounted read-write into kube-apiserver) nor the
  kubelet's /var/log/pods and /var/log/containers or journald's /var/log/journal;
* the backups: a folder of kaudit's own under /etc/kubernetes/, by default
  /etc/kubernetes/tmp/kaudit (the agent mounts exactly that), never /etc/kubernetes/tmp itself,
  the manifests folder or pki/.

The places are disjoint (the policy under /etc/kubernetes, the logs under /var/log, the backups
apart from the policy folder), so the policy and log folders, mounted separately into
kube-apiserver, can never be one folder or hide one of the folders kubeadm mounts.

Pure: strings in, a reason or None out. config.py turns a reason into a ConfigError naming the
spec field, hostio/files.py into a HostError naming the state file and its field.
"""

from __future__ import annotations

import posixpath
import unicodedata
from typing import Final

ETC_KUBERNETES: Final = "/etc/kubernetes"
MANIFESTS_DIR: Final = "/etc/kubernetes/manifests"
PKI_DIR: Final = "/etc/kubernetes/pki"
KUBEADM_TMP_DIR: Final = "/etc/kubernetes/tmp"
KAUDIT_BACKUP_DIR: Final = "/etc/kubernetes/tmp/kaudit"
VAR_LOG: Final = "/var/log"
# kaudit's defaults (config.py uses them): the seed procedure's paths, and the backups in a
# folder of their own.
DEFAULT_MANIFEST: Final = "/etc/kubernetes/manifests/kube-apiserver.yaml"
DEFAULT_POLICY_FILE: Final = "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
DEFAULT_LOG_DIR: Final = "/var/log/kubernetes/audit"
DEFAULT_LOG_PATH: Final = "/var/log/audit/kube-apiserver-audit.log"
DEFAULT_BACKUP_DIR: Final = KAUDIT_BACKUP_DIR

# Linux's PATH_MAX is 4096 and NAME_MAX 255; a real kaudit path is under 100 bytes, and a
# shorter bound keeps every message that quotes a path readable.
MAX_PATH_BYTES: Final = 1024
MAX_NAME_BYTES: Final = 255

# Folders under /var/log that belong to someone else: the kubelet's pod and container logs
# (kube-apiserver writing there would mix with, and rotate away, what log shippers read) and
# journald's store.
_FOREIGN_LOG_DIRS: Final = ("/var/log/pods", "/var/log/containers", "/var/log/journal")
# Control (Cc), invisible formatting such as right-to-left overrides (Cf), lone surrogates
# (Cs) and line or paragraph separators: a path with one of these does not look like itself
# in a terminal or a YAML file.
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHOWN_CHARS: Final = 120
# Folders under /etc/kubernetes that are not kaudit's, with what lives there.
_MANIFESTS: Final = (
    MANIFESTS_DIR,
    "the kubelet's manifests folder: the kubelet would run a file there as a pod",
)
_PKI: Final = (
    PKI_DIR,
    "kube-apiserver's pki folder, where the cluster's certificates and keys live",
)
_KUBEADM_TMP: Final = (
    KUBEADM_TMP_DIR,
    "kubeadm's tmp folder, where its upgrade backups and etcd snapshots (every Secret) and "
    "kaudit's backups live",
)


def shown(path: str) -> str:
    """A path (or any text the user wrote) quoted for a message, cut short when it is long."""
    if len(path) > _SHOWN_CHARS:
        return repr(path[:_SHOWN_CHARS]) + f"... ({len(path)} characters)"
    return repr(path)


def canonical_form(path: str) -> str:
    """The absolute path `path` means lexically: what a refusal suggests instead."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def canonical_path_problem(path: str) -> str | None:
    """Why `path` is not an absolute path in canonical form, or None when it is."""
    if len(path) > MAX_PATH_BYTES or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        size = len(path.encode("utf-8", "surrogatepass"))
        return f"is {size} bytes long, over kaudit's limit of {MAX_PATH_BYTES} bytes for a path"
    for index, char in enumerate(path):
        if unicodedata.category(char) in _HIDDEN_CATEGORIES:
            return (
                f"contains the control or invisible character U+{ord(char):04X} at position "
                f"{index}, found {shown(path)}; a path must be plain printable text"
            )
    if not path.startswith("/"):
        return f"must be an absolute path (starting with /), found {shown(path)}"
    if path == "/":
        return None
    parts = path.split("/")[1:]
    faults = []
    if "//" in path:
        faults.append("'//'")
    if "." in parts:
        faults.append("a '.' component")
    if ".." in parts:
        faults.append("a '..' component")
    if path.endswith("/"):
        faults.append("a trailing '/'")
    if faults:
        return (
            f"must be in canonical form, without {', '.join(faults)}: found {shown(path)}, "
            f"write it as {shown(canonical_form(path))}"
        )
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            return f"has a name over {MAX_NAME_BYTES} bytes long, found {shown(path)}"
    return None


def file_name_problem(name: str) -> str | None:
    """Why `name` is not one plain file name (no folder part), or None."""
    if name in ("", ".", "..") or "/" in name:
        return f"must be a plain file name without '/', found {shown(name)}"
    return canonical_path_problem("/" + name)


def is_within(path: str, folder: str) -> bool:
    """path is folder or inside it; both canonical."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def is_below(path: str, folder: str) -> bool:
    """path is strictly inside folder; both canonical."""
    return path != folder and is_within(path, folder)


def manifest_problem(path: str) -> str | None:
    problem = canonical_path_problem(path)
    if problem is not None:
        return problem
    name = posixpath.basename(path)
    if posixpath.dirname(path) != MANIFESTS_DIR or name.startswith("."):
        return (
            f"must be a file directly in the kubelet's manifests folder {MANIFESTS_DIR} "
            f"(kubeadm's staticPodPath) whose name does not start with a dot, found {shown(path)}"
        )
    return None


def kube_apiserver_file_problem(path: str) -> str | None:
    """A file kube-apiserver reads (the audit policy; an audit webhook kubeconfig would be the
    same): its folder is mounted read-only into the container at the same path."""
    problem = canonical_path_problem(path)
    if problem is not None:
        return problem
    folder = posixpath.dirname(path)
    allowed = (
        f"it must be in a folder of its own under {ETC_KUBERNETES}/, "
        f"such as {posixpath.dirname(DEFAULT_POLICY_FILE)}"
    )
    if not is_below(folder, ETC_KUBERNETES):
        return f"{shown(path)} is not in a folder under {ETC_KUBERNETES}/: {allowed}"
    return _inside_one_of(path, (_MANIFESTS, _PKI, _KUBEADM_TMP), allowed=allowed)


def log_dir_problem(path: str) -> str | None:
    """The host folder mounted read-write into kube-apiserver for its audit log."""
    problem = canonical_path_problem(path)
    if problem is not None:
        return problem
    return _log_folder_problem(path, what="the log folder", example=DEFAULT_LOG_DIR)


def log_path_problem(path: str) -> str | None:
    """The audit log file inside the kube-apiserver container; its folder is the mount point."""
    problem = canonical_path_problem(path)
    if problem is not None:
        return problem
    return _log_folder_problem(
        posixpath.dirname(path),
        what=f"the folder of {shown(path)}",
        example=posixpath.dirname(DEFAULT_LOG_PATH),
    )


def _log_folder_problem(folder: str, *, what: str, example: str) -> str | None:
    allowed = f"use a folder of its own under {VAR_LOG}/, such as {example}"
    if folder == VAR_LOG:
        return (
            f"{what} is {VAR_LOG} itself: it would be mounted read-write into kube-apiserver, "
            f"with every other log of the host; {allowed}"
        )
    if not is_below(folder, VAR_LOG):
        return (
            f"{what} {shown(folder)} is not under {VAR_LOG}/ (it is mounted read-write into "
            f"kube-apiserver); {allowed}"
        )
    for foreign in _FOREIGN_LOG_DIRS:
        if is_within(folder, foreign):
            return f"{what} {shown(folder)} is inside {foreign}, not kube-apiserver's; {allowed}"
    return None


def backup_dir_problem(path: str) -> str | None:
    problem = canonical_path_problem(path)
    if problem is not None:
        return problem
    allowed = (
        f"use a folder of kaudit's own under {ETC_KUBERNETES}/, such as {KAUDIT_BACKUP_DIR} "
        "(the one the agent DaemonSet mounts)"
    )
    if not is_below(path, ETC_KUBERNETES):
        return f"{shown(path)} is not under {ETC_KUBERNETES}/; {allowed}"
    if path == KUBEADM_TMP_DIR:
        return (
            f"{shown(path)} is kubeadm's own tmp folder, where it keeps its upgrade backups and "
            f"etcd snapshots (every Secret of the cluster); {allowed}"
        )
    return _inside_one_of(path, (_MANIFESTS, _PKI), allowed=allowed)


def _inside_one_of(path: str, places: tuple[tuple[str, str], ...], *, allowed: str) -> str | None:
    for folder, why in places:
        if is_within(path, folder):
            return f"{shown(path)} is inside {why}; {allowed}"
    return None


def host_paths_problem(
    *, manifest: str, policy_file: str, log_dir: str, backup_dir: str
) -> tuple[str, str] | None:
    """The first of the four host paths that may not be used, as (field name, reason)."""
    for key, problem in (
        ("manifest", manifest_problem(manifest)),
        ("policyFile", kube_apiserver_file_problem(policy_file)),
        ("logDir", log_dir_problem(log_dir)),
        ("backupDir", backup_dir_problem(backup_dir)),
    ):
        if problem is not None:
            return key, problem
    policy_dir = posixpath.dirname(policy_file)
    # The policy folder is mounted into kube-apiserver: backups and the state file (which
    # keeps old policies and manifests) there would be readable by it, and pruning the
    # backups would delete files beside the policy.
    if is_within(backup_dir, policy_dir) or is_within(policy_dir, backup_dir):
        return "backupDir", (
            f"{shown(backup_dir)} overlaps the policy file's folder {shown(policy_dir)}, which "
            f"is mounted into kube-apiserver; use a folder of its own such as {KAUDIT_BACKUP_DIR}"
        )
    return None
