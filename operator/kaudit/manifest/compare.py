"""same_pod: whether two manifests give the kubelet the same pod, up to an order of no meaning.

kubeadm (v1beta4) appends apiServer.extraArgs after its own flags, where kaudit sorts its flags
in among kubeadm's. Both files run the same API server. Rewriting one into the other restarts
the API server for nothing, and after a `kubeadm upgrade` that changed nothing else it would
put back the very manifest kubeadm replaced: kubeadm waits for the static pod's hash to change,
times out after five minutes and reports the upgrade failed.

No meaning here: the order of `--name=value` flags with distinct names (a repeated flag is
compared in order: the last one wins), of the pod's volumes (by name) and of a container's
volume mounts (by mountPath; the runtime orders mounts by path itself). Everything else,
annotations included, must be equal.
"""

from __future__ import annotations

import copy
from typing import Any

from kaudit.yamltext import YamlTextError, load_single_document


def same_pod(first: str, second: str) -> bool:
    """Equal as data once the order of flags, volumes and mounts is set aside."""
    if first == second:
        return True
    try:
        left, right = load_single_document(first), load_single_document(second)
    except YamlTextError:
        return False
    return _normalized(left) == _normalized(right)


def _normalized(document: object) -> object:
    if not isinstance(document, dict) or not isinstance(document.get("spec"), dict):
        return document
    pod: dict[str, Any] = copy.deepcopy(document)
    spec = pod["spec"]
    spec["volumes"] = _sorted_by(spec.get("volumes"), "name")
    for key in ("containers", "initContainers"):
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for container in containers:
            if not isinstance(container, dict):
                continue
            container["volumeMounts"] = _sorted_by(container.get("volumeMounts"), "mountPath")
            for field in ("command", "args"):
                container[field] = _flags_sorted(container.get(field))
    return pod


def _sorted_by(items: object, key: str) -> object:
    """The list sorted by a key that is unique in it; as it was otherwise."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return items
    values = [str(item.get(key)) for item in items]
    if len(set(values)) != len(values):
        return items
    return sorted(items, key=lambda item: str(item.get(key)))


def _flags_sorted(items: object) -> object:
    """command/args with the `--name=value` flags after the leading words sorted.

    Only when every later item is such a flag and no name repeats: a flag whose value is the
    next item, or a flag given twice, makes the order meaningful.
    """
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return items
    start = 0
    while start < len(items) and not items[start].startswith("-"):
        start += 1
    flags = items[start:]
    if not all(flag.startswith("--") and "=" in flag for flag in flags):
        return items
    names = [flag.split("=", 1)[0] for flag in flags]
    if len(set(names)) != len(names):
        return items
    return [*items[:start], *sorted(flags)]
