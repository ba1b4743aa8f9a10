"""Patch and unpatch a kube-apiserver static-pod manifest: text in, text out, no I/O.

`enable_audit` adds the audit flags, the hostPath volumes and their mounts and the
`kaudit.io/config-hash` annotation; `disable_audit` gives back the original bytes, working from
the manifest alone; `inspect_manifest` reads what is there. The edits are surgical (see
`kaudit.manifest._text`): comments, quoting, indentation and line endings of the user's file
survive, and disable(enable(m)) == m byte for byte. `same_pod` tells whether two manifests
differ in more than an order the API server does not see (what counts as drift).
"""

from kaudit.manifest.compare import same_pod
from kaudit.manifest.model import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_RESTORE,
    AuditPatch,
    AuditVolume,
    ManifestAuditState,
    ManifestError,
)
from kaudit.manifest.patch import disable_audit, enable_audit, inspect_manifest

__all__ = [
    "ANNOTATION_CONFIG_HASH",
    "ANNOTATION_RESTORE",
    "AuditPatch",
    "AuditVolume",
    "ManifestAuditState",
    "ManifestError",
    "disable_audit",
    "enable_audit",
    "inspect_manifest",
    "same_pod",
]
