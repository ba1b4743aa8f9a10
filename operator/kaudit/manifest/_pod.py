"""Finding the parts of a kube-apiserver static pod that the patcher reads and edits.

Everything here reads; nothing edits. A manifest that is not one Pod document, or whose
kube-apiserver container or flags cannot be found without guessing, is refused with a
ManifestError that names the field.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from dataclasses import dataclass

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kaudit.limits import MAX_MANIFEST_BYTES, too_large
from kaudit.manifest._text import BlockStyle, Lines, is_flow, is_null, scalar_text, walk
from kaudit.manifest.model import ManifestError
from kaudit.yamltext import YamlLimitError, YamlLimits, bounded_yaml, one_line

APISERVER = "kube-apiserver"
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
_MENTIONS_APISERVER = re.compile(r"(?:^|[\s/;&|(])kube-apiserver(?:\s|$)")


@dataclass
class Entry:
    """One key of a mapping, with its value."""

    key: ScalarNode
    value: Node


@dataclass
class Flag:
    """A kube-apiserver flag given as list items: `--name=value`, or `--name` then `value`."""

    name: str
    value: str
    seq: SequenceNode
    index: int  # of the `--name...` item in seq
    node: ScalarNode
    value_node: ScalarNode | None  # the separate value item, if written as two items

    @property
    def last_index(self) -> int:
        return self.index + 1 if self.value_node is not None else self.index


@dataclass
class Item:
    """A volume or volumeMount: its node, position, and the fields the patcher compares."""

    node: MappingNode
    index: int
    name: str | None
    path: str | None  # mountPath for a volumeMount, hostPath.path for a volume


@dataclass
class Container:
    index: int
    node: MappingNode
    field: str  # "spec.containers[0]"
    command: Entry | None
    args: Entry | None
    binary: tuple[SequenceNode, int] | None  # the kube-apiserver item; None: image entrypoint
    flags: list[Flag] = dataclasses.field(default_factory=list)
    shell: str | None = None  # the shell script that starts kube-apiserver, if any


@dataclass
class Pod:
    source: str
    text: str
    lines: Lines
    root: MappingNode
    metadata: Entry
    spec: Entry
    container: Container
    style: BlockStyle


def error(pod_or_source: Pod | str, where: str, reason: str) -> ManifestError:
    source = pod_or_source.source if isinstance(pod_or_source, Pod) else pod_or_source
    return ManifestError(source, where, reason)


def get(mapping: MappingNode, key: str, *, source: str, where: str) -> Entry | None:
    """The entry for `key`; a key written twice is refused (the API server keeps the last)."""
    found = [
        Entry(key_node, value)
        for key_node, value in mapping.value
        if isinstance(key_node, ScalarNode) and key_node.value == key
    ]
    if len(found) > 1:
        raise error(source, where, f"the key {key!r} is written {len(found)} times")
    return found[0] if found else None


def get_mapping(parent: MappingNode, key: str, *, source: str, where: str) -> Entry | None:
    entry = get(parent, key, source=source, where=where)
    if entry is not None and not isinstance(entry.value, MappingNode):
        raise error(source, f"{where}.{key}", "is not a mapping")
    return entry


def get_sequence(parent: MappingNode, key: str, *, source: str, where: str) -> Entry | None:
    """A list-valued key; an empty (null) value is refused rather than guessed at."""
    entry = get(parent, key, source=source, where=where)
    if entry is None:
        return None
    if is_null(entry.value):
        raise error(
            source,
            f"{where}.{key}",
            "is empty (null); write `[]` or remove the key, then run kaudit again",
        )
    if not isinstance(entry.value, SequenceNode):
        raise error(source, f"{where}.{key}", "is not a list")
    return entry


def parse_document(text: str, source: str) -> MappingNode:
    """The one YAML document in `text`, which must be a mapping without anchors."""
    if not text.strip():
        raise error(source, "(file)", "is empty; expected a kube-apiserver static pod manifest")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_MANIFEST_BYTES:
        raise error(source, "(file)", too_large("manifest", size, MAX_MANIFEST_BYTES))
    try:
        # Depth and node limits while composing; aliases are refused below, so no expansion.
        documents = list(bounded_yaml("rt", YamlLimits()).compose_all(text))
    except YamlLimitError as exc:
        raise error(source, "(file)", f"is past a limit: {exc}") from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(source, "(file)", f"is not valid YAML: {exc.problem}{where}") from None
    except YAMLError as exc:
        raise error(source, "(file)", f"is not valid YAML: {one_line(exc)}") from None
    if not documents:
        raise error(source, "(file)", "holds no YAML document, only comments")
    if len(documents) > 1:
        raise error(
            source,
            "(file)",
            f"holds {len(documents)} YAML documents; a static pod manifest holds exactly one Pod",
        )
    root = documents[0]
    if not isinstance(root, MappingNode):
        raise error(source, "(document)", "is not a mapping; expected a Pod")
    if any(getattr(node, "anchor", None) for node in walk(root)):
        raise error(
            source,
            "(document)",
            "uses YAML anchors and aliases (&name / *name); kaudit only edits manifests "
            "without them: write the aliased values out, then run kaudit again",
        )
    return root


def parse_pod(text: str, source: str) -> Pod:
    root = parse_document(text, source)
    kind = get(root, "kind", source=source, where="(document)")
    kind_text = scalar_text(kind.value) if kind else None
    if kind_text != "Pod":
        raise error(
            source,
            "kind",
            f"is {kind_text!r}, expected Pod" if kind else "is missing, expected Pod",
        )
    api_version = get(root, "apiVersion", source=source, where="(document)")
    version_text = scalar_text(api_version.value) if api_version else None
    if version_text != "v1":
        raise error(source, "apiVersion", f"is {version_text!r}, expected v1")
    metadata = get_mapping(root, "metadata", source=source, where="(document)")
    if metadata is None:
        raise error(source, "metadata", "is missing")
    spec = get_mapping(root, "spec", source=source, where="(document)")
    if spec is None:
        raise error(source, "spec", "is missing")
    assert isinstance(spec.value, MappingNode)
    containers = get_sequence(spec.value, "containers", source=source, where="spec")
    if containers is None or not containers.value.value:
        raise error(source, "spec.containers", "is missing or empty")
    assert isinstance(containers.value, SequenceNode)
    container = _find_apiserver_container(containers.value, source)
    lines = Lines(text)
    return Pod(
        source=source,
        text=text,
        lines=lines,
        root=root,
        metadata=metadata,
        spec=spec,
        container=container,
        style=_block_style(root, spec, containers, text),
    )


def dash_index(item: Node, text: str) -> int | None:
    """Offset of the `-` that starts a block sequence item, None if it is not where expected."""
    index = item.start_mark.index - 1
    while index >= 0 and text[index] in " \t\r\n":
        index -= 1
    return index if index >= 0 and text[index] == "-" else None


def _block_style(root: MappingNode, spec: Entry, containers: Entry, text: str) -> BlockStyle:
    mapping_step = 2
    for node in walk(root):
        if isinstance(node, MappingNode) and not is_flow(node):
            nested = [
                value.start_mark.column - key.start_mark.column
                for key, value in node.value
                if isinstance(value, MappingNode) and not is_flow(value) and value.value
            ]
            if nested and nested[0] > 0:
                mapping_step = nested[0]
                break
    sequence_offset, item_offset = 0, 2
    seq = containers.value
    if not is_flow(seq) and not is_flow(spec.value):
        first = seq.value[0]
        dash = dash_index(first, text)
        if dash is not None:
            dash_column = dash - text.rfind("\n", 0, dash) - 1
            sequence_offset = max(dash_column - containers.key.start_mark.column, 0)
            if first.start_mark.line == Lines(text).line_of(dash):
                item_offset = max(first.start_mark.column - dash_column, 2)
    return BlockStyle(mapping_step, sequence_offset, item_offset)


def _string_items(entry: Entry | None, where: str, source: str) -> list[tuple[SequenceNode, int]]:
    if entry is None:
        return []
    seq = entry.value
    assert isinstance(seq, SequenceNode)
    for index, item in enumerate(seq.value):
        if scalar_text(item) is None:
            raise error(source, f"{where}[{index}]", "is not a string")
    return [(seq, index) for index in range(len(seq.value))]


def _item_text(position: tuple[SequenceNode, int]) -> str:
    seq, index = position
    return str(seq.value[index].value)


def _runs_apiserver(container: MappingNode, source: str, where: str) -> bool:
    for key in ("command", "args"):
        entry = get(container, key, source=source, where=where)
        if entry is None or not isinstance(entry.value, SequenceNode):
            continue
        for item in entry.value.value:
            value = scalar_text(item)
            if value and (
                posixpath.basename(value) in (APISERVER, "hyperkube")
                or _MENTIONS_APISERVER.search(value)
            ):
                return True
    return False


def _find_apiserver_container(containers: SequenceNode, source: str) -> Container:
    candidates: list[tuple[int, MappingNode]] = []
    for index, node in enumerate(containers.value):
        if not isinstance(node, MappingNode):
            raise error(source, f"spec.containers[{index}]", "is not a mapping")
        candidates.append((index, node))

    def name_of(node: MappingNode, index: int) -> str | None:
        entry = get(node, "name", source=source, where=f"spec.containers[{index}]")
        return scalar_text(entry.value) if entry else None

    named = [(i, node) for i, node in candidates if name_of(node, i) == APISERVER]
    running = [
        (i, node)
        for i, node in candidates
        if _runs_apiserver(node, source, f"spec.containers[{i}]")
    ]
    if len(named) > 1:
        raise error(source, "spec.containers", f"{len(named)} containers are named {APISERVER}")
    if named:
        chosen = named[0]
    elif len(running) == 1:
        chosen = running[0]
    elif running:
        names = ", ".join(repr(name_of(node, i)) for i, node in running)
        raise error(
            source,
            "spec.containers",
            f"{len(running)} containers run {APISERVER} ({names}) and none is named "
            f"{APISERVER}; name the API server's container {APISERVER}",
        )
    elif len(candidates) == 1:
        raise error(
            source,
            "spec.containers",
            f"the only container ({name_of(candidates[0][1], 0)!r}) is neither named "
            f"{APISERVER} nor runs it",
        )
    else:
        raise error(
            source,
            "spec.containers",
            f"{len(candidates)} containers and none is {APISERVER}",
        )
    return _read_container(*chosen, source=source)


def _read_container(index: int, node: MappingNode, *, source: str) -> Container:
    where = f"spec.containers[{index}]"
    command = get_sequence(node, "command", source=source, where=where)
    args = get_sequence(node, "args", source=source, where=where)
    command_items = _string_items(command, f"{where}.command", source)
    args_items = _string_items(args, f"{where}.args", source)
    container = Container(index, node, where, command, args, binary=None)
    items = command_items + args_items
    if not items:
        raise error(
            source,
            where,
            "has no command or args; kaudit adds flags to the kube-apiserver flags listed there",
        )
    # A shell runs kube-apiserver: its flags are words of one string, with the shell's quoting.
    if command_items and posixpath.basename(_item_text(command_items[0])) in _SHELLS:
        scripts = [p for p in items if _MENTIONS_APISERVER.search(_item_text(p))]
        container.shell = _item_text(scripts[-1] if scripts else items[-1])
        return container
    start: int | None = None
    for position, (seq, item_index) in enumerate(items):
        value = _item_text((seq, item_index))
        base = posixpath.basename(value)
        if base == APISERVER:
            start = position + 1
        elif (
            base == "hyperkube"
            and position + 1 < len(items)
            and _item_text(items[position + 1]) in ("apiserver", APISERVER)
        ):
            start = position + 2
        if start is not None:
            container.binary = items[start - 1]
            break
    if start is None:
        scripts = [p for p in items if _MENTIONS_APISERVER.search(_item_text(p))]
        if scripts:
            container.shell = _item_text(scripts[-1])
            return container
        if command_items:
            raise error(
                source,
                f"{where}.command",
                f"does not run {APISERVER} (no item is the {APISERVER} binary), so kaudit "
                "cannot tell which items are its flags",
            )
        start = 0  # only args: the image's entrypoint is kube-apiserver
    container.flags = _read_flags(items[start:])
    return container


def _read_flags(items: list[tuple[SequenceNode, int]]) -> list[Flag]:
    flags: list[Flag] = []
    position = 0
    while position < len(items):
        seq, index = items[position]
        node = seq.value[index]
        text = str(node.value)
        position += 1
        if not text.startswith("--"):
            continue
        name, equals, value = text.partition("=")
        value_node: ScalarNode | None = None
        if not equals and position < len(items):
            next_seq, next_index = items[position]
            following = str(next_seq.value[next_index].value)
            # pflag reads `--name value` for non-boolean flags; kube-apiserver has no positional
            # arguments, so a following non-flag item is this flag's value.
            if next_seq is seq and not following.startswith("-"):
                value_node = next_seq.value[next_index]
                value = following
                position += 1
        flags.append(Flag(name, value, seq, index, node, value_node))
    return flags


def read_items(entry: Entry | None, path_key: str, where: str, source: str) -> list[Item]:
    """volumeMounts (path_key "mountPath") or volumes (path_key "hostPath")."""
    if entry is None:
        return []
    items: list[Item] = []
    seq = entry.value
    assert isinstance(seq, SequenceNode)
    for index, node in enumerate(seq.value):
        if not isinstance(node, MappingNode):
            raise error(source, f"{where}[{index}]", "is not a mapping")
        name_entry = get(node, "name", source=source, where=f"{where}[{index}]")
        path_entry = get(node, path_key, source=source, where=f"{where}[{index}]")
        path: str | None = None
        if path_entry is not None:
            if isinstance(path_entry.value, MappingNode):  # hostPath: {path: ...}
                inner = get(path_entry.value, "path", source=source, where=where)
                path = scalar_text(inner.value) if inner else None
            else:
                path = scalar_text(path_entry.value)
        items.append(Item(node, index, scalar_text(name_entry.value) if name_entry else None, path))
    return items


def same_path(left: str | None, right: str) -> bool:
    """Paths the kubelet mounts at the same place (`/var/log/audit/` is `/var/log/audit`)."""
    return left is not None and posixpath.normpath(left) == posixpath.normpath(right)
