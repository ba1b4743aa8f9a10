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


def read_limited_text(path: Path, *, limit: int, what: str) -> str | None:
    """The text of a regular file, or None if it does not exist.

    Refused with InputRefusedError (naming the file): a symlink as the last part of the path, a
    FIFO, a device, a folder, a file over `limit` bytes, text that is not UTF-8. Other OS
    errors (permissions, I/O) are raised as OSError for the caller to name.
    """
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise InputRefusedError(
                source=str(path), reason=f"the {what} is a symlink; kaudit reads only plain files"
            ) from None
        if error.errno == errno.EISDIR:
            raise InputRefusedError(source=str(path), reason=f"the {what} is a folder") from None
        raise
    try:
        facts = os.fstat(fd)
        if stat.S_ISDIR(facts.st_mode):
            raise InputRefusedError(source=str(path), reason=f"the {what} is a folder")
        if not stat.S_ISREG(facts.st_mode):
            raise InputRefusedError(
                source=str(path),
                reason=f"the {what} is not a regular file (a FIFO, socket or device)",
            )
        if facts.st_size > limit:
            raise InputRefusedError(source=str(path), reason=too_large(what, facts.st_size, limit))
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
        raise InputRefusedError(source=str(path), reason=too_large(what, size, limit))
    return decode_utf8(b"".join(chunks), source=str(path), what=what)


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
