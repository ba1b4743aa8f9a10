"""The limits on untrusted input, and the one way files of unknown origin are read.

Every text kaudit parses may come from someone who wants the control plane's agents down: a
policy ConfigMap, an AuditConfig posted to the webhook, a host file another process wrote.
The limits are far above what a real input needs (the largest policy in the corpus of public
ones is well under 64 KiB; a kubeadm kube-apiserver manifest is about 4 KiB) and far below what
would hurt a container limited to 256 MiB.

Reading a file goes through `read_limited_text`: it never follows a symlink, never blocks on
a FIFO or a device, reads at most the limit plus one byte, and decodes strict UTF-8 with line
endings kept (CRLF files stay byte-exact through a patch).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

# A ConfigMap holds at most 1 MiB; a policy file larger than that is not a policy.
MAX_POLICY_BYTES: Final = 1 * MIB
MAX_MANIFEST_BYTES: Final = 1 * MIB
# The state file keeps the policy and the manifest lines kaudit replaced, so twice the largest.
MAX_STATE_BYTES: Final = 3 * MIB
MAX_AUDITCONFIG_BYTES: Final = 1 * MIB

# The API server waits this long for the admission webhook (deploy/webhook.yaml timeoutSeconds,
# failurePolicy Fail): the webhook's whole work on one request, hostile input included, must
# end well before it, or the user sees a timeout instead of the reason.
WEBHOOK_TIMEOUT_SECONDS: Final = 10


class InputRefusedError(ValueError):
    """Input kaudit will not read: the message names the input and the limit or reason."""

    def __init__(self, *, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


def read_limited_text(
    path: Path | str,
    *,
    limit: int,
    what: str,
    dir_fd: int | None = None,
    source: str | None = None,
) -> str | None:
    """The text of a regular file, or None if it does not exist.

    Refused with InputRefusedError (naming the file): a symlink as the last part of the path, a
    FIFO, a device, a folder, a file over `limit` bytes, text that is not UTF-8. Other OS
    errors (permissions, I/O) are raised as OSError for the caller to name.

    With dir_fd, path is a name in that open folder (the host layer walks to it without
    following symlinks) and source is what messages call the file.
    """
    data = read_limited_bytes(path, limit=limit, what=what, dir_fd=dir_fd, source=source)
    if data is None:
        return None
    return decode_utf8(data, source=source if source is not None else str(path), what=what)


def read_limited_bytes(
    path: Path | str,
    *,
    limit: int,
    what: str,
    dir_fd: int | None = None,
    source: str | None = None,
) -> bytes | None:
    """Like read_limited_text, for files whose encoding the caller decides (a policy file may
    be UTF-16, as kube-apiserver reads it)."""
    shown = source if source is not None else str(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if "\0" in str(path):
        # os.open would raise ValueError: no file system has such a name.
        raise InputRefusedError(
            source=shown.replace("\0", "\\0"), reason="the path contains a NUL byte"
        )
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputRefusedError(
                source=shown, reason=f"the {what} is a symlink; kaudit reads only plain files"
            ) from None
        if error.errno == errno.EISDIR:
            raise InputRefusedError(source=shown, reason=f"the {what} is a folder") from None
        raise
    try:
        facts = os.fstat(fd)
        if stat.S_ISDIR(facts.st_mode):
            raise InputRefusedError(source=shown, reason=f"the {what} is a folder")
        if not stat.S_ISREG(facts.st_mode):
            raise InputRefusedError(
                source=shown,
                reason=f"the {what} is not a regular file (a FIFO, socket or device)",
            )
        if facts.st_size > limit:
            raise InputRefusedError(source=shown, reason=too_large(what, facts.st_size, limit))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(64 * KIB, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        # The file grew while it was read.
        raise InputRefusedError(source=shown, reason=too_large(what, size, limit))
    return b"".join(chunks)


def decode_utf8(data: bytes, *, source: str, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputRefusedError(
            source=source, reason=f"the {what} is not UTF-8 text (byte {error.start})"
        ) from None


def check_text_size(text: str, *, limit: int, source: str, what: str) -> None:
    """Refuse text whose UTF-8 encoding is over `limit` bytes (cheap check first)."""
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        size = len(text.encode("utf-8", "surrogatepass"))
        raise InputRefusedError(source=source, reason=too_large(what, size, limit))


def too_large(what: str, size: int, limit: int) -> str:
    return f"the {what} is {size} bytes, over kaudit's limit of {limit} bytes ({describe(limit)})"


def describe(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    if size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} bytes"


# YAML shape limits, for every YAML kaudit reads. Real inputs are far inside them: the corpus
# policies and kube-apiserver manifests nest at most 6 levels and have at most 397 and 431
# nodes. kube-apiserver's own decoder (go-yaml v2 in
# sigs.k8s.io/yaml) stops at 10000 levels, a depth Python's recursion cannot reach, and at
# "excessive aliasing" (see kaudit.yamltext); kaudit's limits are lower and named in the error.
MAX_YAML_DEPTH: Final = 64
# Nodes after alias expansion: each costs a Python object and a field path, and the pure-Python
# parser needs about 20 microseconds per event, so this also bounds the parse time.
MAX_YAML_NODES: Final = 30_000
# All scalars of a document together, once aliases are expanded (characters).
MAX_YAML_EXPANDED_BYTES: Final = 1 * MIB
# The longest scalar in a policy: names, groups, URLs. A policy scalar longer than this is not
# a name any API server request carries.
MAX_POLICY_SCALAR_BYTES: Final = 16 * KIB
# A policy with more rules than this is not written by hand or by any generator seen in the
# corpus (the largest has 17 rules); kube-apiserver tries the rules in order on every request,
# and lint compares them with each other. 1,000 rules of up to 30 nodes each (the corpus ones
# have about 20) fit in MAX_YAML_NODES.
MAX_POLICY_RULES: Final = 1_000

# A message kaudit sends to the API (an admission denial, a node's status message): long
# enough for several problems, short enough that a policy of 1,000 bad rules with 16 KiB
# values cannot push a status write past etcd's 1.5 MiB object limit.
MAX_MESSAGE_CHARS: Final = 4 * KIB
_MAX_LINE_CHARS: Final = 512


def bounded_message(text: str, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` with each line cut to 512 characters and whole lines kept up to `limit`."""
    if len(text) <= limit and all(len(line) <= _MAX_LINE_CHARS for line in text.splitlines()):
        return text
    kept: list[str] = []
    size = 0
    lines = text.splitlines()
    for line in lines:
        cut = line
        if len(line) > _MAX_LINE_CHARS:
            cut = f"{line[:_MAX_LINE_CHARS]}... ({len(line) - _MAX_LINE_CHARS} more characters)"
        if kept and size + len(cut) + 1 > limit:
            break
        kept.append(cut)
        size += len(cut) + 1
    if len(kept) < len(lines):
        kept.append(f"... and {len(lines) - len(kept)} more lines")
    return "\n".join(kept)
