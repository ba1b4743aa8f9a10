"""enable_audit, disable_audit and inspect_manifest: the patcher's three operations.

enable records in the manifest itself (annotation kaudit.io/restore, compact JSON) the exact
text of everything it replaced and the names of everything it added:

    {"v": 1,
     "flags":   [["--audit-log-path", "--audit-log-path=/var/log/audit.log"],
                 ["--audit-log-maxage", null]],
     "mounts":  [["audit-logs", null], ["audit-policy", "<the replaced volumeMount, as written>"]],
     "volumes": [["audit-logs", null], ["audit-policy", null]],
     "created": ["annotations", "volumes", "volumeMounts"]}

null means "added by kaudit: remove it"; a string is the original text of the span kaudit
replaced (a flag item or its separate value item, a whole volume or volumeMount item); "created"
lists the keys that did not exist. disable needs nothing else, so `kaudit manifest render
--disable` works on a manifest copied off a node. Re-enabling a managed manifest disables it
first, so enable is always relative to the user's original text and a change of settings
touches only what differs (a policy-only change touches only kaudit.io/config-hash).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from kaudit.manifest._pod import (
    APISERVER,
    Container,
    Entry,
    Flag,
    Pod,
    dash_index,
    error,
    get,
    get_mapping,
    get_sequence,
    parse_pod,
    read_items,
    same_path,
)
from kaudit.manifest._text import (
    BlockStyle,
    DoubleQuoted,
    Edit,
    SingleQuoted,
    apply_edits,
    block_entry_lines,
    block_item_lines,
    block_value_text,
    content_end,
    flow,
    is_flow,
    scalar_like,
    scalar_text,
)
from kaudit.manifest.model import (
    ANNOTATION_CONFIG_HASH,
    ANNOTATION_RESTORE,
    AuditPatch,
    AuditVolume,
    ManifestAuditState,
    ManifestError,
)

_RECORD_VERSION = 1


@dataclass
class _Record:
    flags: list[tuple[str, str | None]] = field(default_factory=list)
    mounts: list[tuple[str, str | None]] = field(default_factory=list)
    volumes: list[tuple[str, str | None]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": _RECORD_VERSION,
                "flags": [list(pair) for pair in self.flags],
                "mounts": [list(pair) for pair in self.mounts],
                "volumes": [list(pair) for pair in self.volumes],
                "created": self.created,
            },
            separators=(",", ":"),
            ensure_ascii=True,
        )


# --- public operations -----------------------------------------------------------------------


def enable_audit(text: str, patch: AuditPatch, *, source: str, adopt: bool = False) -> str:
    """The manifest with the patch's flags, volumes, mounts and config-hash annotation.

    Flags and volumes already there are taken over, and disable puts them back as they were.
    adopt: they are kaudit's own, written back without kaudit's annotations (kubeadm upgrade
    regenerates the manifest from the kubeadm-config kaudit recorded them in): disable removes
    them, or turning audit logging off would leave it on.
    """
    pod = parse_pod(text, source)
    if _kaudit_entries(pod):
        # Salvage: a hand edit may have removed some of what kaudit added (the drift kaudit is
        # there to correct); what is gone needs no undoing, and the rest is put back first.
        text = disable_audit(text, source=source, salvage=True)
        pod = parse_pod(text, source)
    _refuse_shell(pod)
    edits: list[Edit] = []
    record = _Record()
    _patch_flags(pod, patch, edits, record, adopt=adopt)
    _patch_volumes(pod, patch.volumes, edits, record, adopt=adopt)
    _add_annotations(pod, patch.config_hash, edits, record)
    return apply_edits(text, edits)


def disable_audit(text: str, *, source: str, salvage: bool = False) -> str:
    """The manifest as it was before enable_audit; unchanged if kaudit never touched it.

    Strict by default: a manifest edited since enable (an item kaudit recorded is missing) is
    an error, since the result could differ from the original. With salvage, what is missing
    is skipped and the kaudit annotations go, which is what re-enabling after a hand edit needs.
    """
    pod = parse_pod(text, source)
    kaudit_entries = _kaudit_entries(pod)
    if not kaudit_entries:
        return text
    try:
        record = _load_record(pod)
    except ManifestError:
        if not salvage:
            raise
        record = _Record()
    removal = _Removal(pod)
    container = pod.container
    where = container.field
    for name, original in record.flags:
        found = [flag for flag in container.flags if flag.name == name]
        if not found and salvage:
            continue
        if len(found) != 1:
            raise _edited_since(pod, where, f"flag {name} is given {len(found)} times")
        flag = found[0]
        if original is None:
            removal.items(flag.seq, range(flag.index, flag.last_index + 1))
        else:
            removal.replace(flag.value_node or flag.node, original)
    mounts_entry = _sequence(pod, container.node, "volumeMounts", where)
    volumes_entry = _sequence(pod, pod.spec.value, "volumes", "spec")
    for key, entry, pairs, parent, parent_where in (
        ("volumeMounts", mounts_entry, record.mounts, container.node, where),
        ("volumes", volumes_entry, record.volumes, pod.spec.value, "spec"),
    ):
        if not pairs:
            continue
        if entry is None:
            if salvage:
                continue
            raise _edited_since(pod, f"{parent_where}.{key}", "is missing")
        assert isinstance(entry.value, SequenceNode)
        assert isinstance(parent, MappingNode)
        path_key = "mountPath" if key == "volumeMounts" else "hostPath"
        items = read_items(entry, path_key, f"{parent_where}.{key}", source)
        added: list[int] = []
        for name, original in pairs:
            named = [item for item in items if item.name == name]
            if not named and salvage:
                continue
            if len(named) != 1:
                raise _edited_since(pod, f"{parent_where}.{key}", f"{len(named)} named {name}")
            if original is None:
                added.append(named[0].index)
            else:
                removal.replace(named[0].node, original)
        if key in record.created and len(added) == len(items):
            removal.entries(parent, [_entry_index(parent, key)])
        else:
            removal.items(entry.value, added)
    metadata = pod.metadata.value
    assert isinstance(metadata, MappingNode)
    annotations = _annotations(pod)
    assert annotations is not None
    if "annotations" in record.created and len(kaudit_entries) == len(annotations.value):
        removal.entries(metadata, [_entry_index(metadata, "annotations")])
    else:
        removal.entries(annotations, kaudit_entries)
    return apply_edits(text, removal.edits())


def inspect_manifest(text: str, *, source: str) -> ManifestAuditState:
    """What the manifest says about audit logging; refuses only what is not a usable Pod."""
    pod = parse_pod(text, source)
    annotations = _annotations(pod)
    managed = bool(_kaudit_entries(pod))
    config_hash: str | None = None
    volumes: tuple[str, ...] = ()
    if annotations is not None:
        hash_entry = get(annotations, ANNOTATION_CONFIG_HASH, source=source, where="annotations")
        config_hash = scalar_text(hash_entry.value) if hash_entry else None
    if managed:
        record = _load_record(pod)
        names = [name for name, _ in record.volumes + record.mounts]
        volumes = tuple(dict.fromkeys(names))
    return ManifestAuditState(
        managed=managed,
        config_hash=config_hash,
        audit_flags=_audit_flags(pod),
        volumes=volumes,
    )


# --- enable ----------------------------------------------------------------------------------


def _refuse_shell(pod: Pod) -> None:
    container = pod.container
    if container.shell is None:
        return
    raise error(
        pod,
        f"{container.field}.command",
        f'starts {APISERVER} through a shell string (`sh -c "... {APISERVER} --flag ..."`); '
        "kaudit does not rewrite flags inside a shell script, where quoting, redirections and "
        f"`exec` make any edit a guess. Rewrite the command as a list ([{APISERVER}] and one "
        "flag per command/args item) or add the audit flags, volumes and mounts by hand",
    )


def _where(container: Container, seq: SequenceNode, index: int) -> str:
    key = "command" if container.command is not None and container.command.value is seq else "args"
    return f"{container.field}.{key}[{index}]"


def _patch_flags(
    pod: Pod, patch: AuditPatch, edits: list[Edit], record: _Record, *, adopt: bool
) -> None:
    container = pod.container
    flags = container.flags
    missing: list[tuple[str, str]] = []
    for name, value in patch.flags:
        found = [flag for flag in flags if flag.name == name]
        if len(found) > 1:
            raise error(
                pod,
                _where(container, found[1].seq, found[1].index),
                f"{name} is given {len(found)} times; remove all but one, then run kaudit again",
            )
        if not found:
            missing.append((name, value))
            record.flags.append((name, None))
            continue
        flag = found[0]
        if flag.value_node is not None:  # `--name` `value`: replace the value item only
            target, new_text = flag.value_node, scalar_like(flag.value_node, value)
        else:
            target, new_text = flag.node, scalar_like(flag.node, f"{name}={value}")
        start, end = _span(target, pod.text)
        record.flags.append((name, None if adopt else pod.text[start:end]))
        edits.append(Edit(start, end, new_text))

    # kubeadm writes its flags sorted by name; keep them so. Otherwise new flags go last.
    names = [flag.name for flag in flags]
    written = [str(flag.node.value) for flag in flags]
    sort_by_name = names == sorted(names)
    sort_by_text = not sort_by_name and written == sorted(written)
    if sort_by_name or sort_by_text:
        missing.sort()
    groups: dict[tuple[int, int], tuple[SequenceNode, int, list[object]]] = {}
    for name, value in missing:
        item = f"{name}={value}"
        if not flags:
            if container.binary is not None:
                seq, index = container.binary[0], container.binary[1] + 1
            else:
                assert container.args is not None
                assert isinstance(container.args.value, SequenceNode)
                seq, index = container.args.value, len(container.args.value.value)
        elif sort_by_name or sort_by_text:
            before = [
                flag
                for flag in flags
                if (flag.name <= name if sort_by_name else str(flag.node.value) <= item)
            ]
            if before:
                seq, index = before[-1].seq, before[-1].last_index + 1
            else:
                seq, index = flags[0].seq, flags[0].index
        else:
            seq, index = flags[-1].seq, flags[-1].last_index + 1
        groups.setdefault((id(seq), index), (seq, index, []))[2].append(item)
    for seq, index, items in groups.values():
        _insert_items(pod, seq, index, items, edits)


def _mount_fields(volume: AuditVolume) -> dict[str, object]:
    fields: dict[str, object] = {"mountPath": volume.mount_path, "name": volume.name}
    if volume.read_only:
        fields["readOnly"] = True
    return fields


def _volume_fields(volume: AuditVolume) -> dict[str, object]:
    # An empty type is written `type: ""` (no check), as the seed procedure does.
    host_path = {"path": volume.host_path, "type": volume.host_path_type}
    return {"hostPath": host_path, "name": volume.name}


def _ordered_like(fields: dict[str, object], reference: Node | None) -> dict[str, object]:
    """Fields in the key order of a sibling (kubeadm sorts keys; some files put name first)."""
    if not isinstance(reference, MappingNode):
        return fields
    order = [str(key.value) for key, _ in reference.value]
    ordered = {key: fields[key] for key in order if key in fields}
    ordered.update((key, value) for key, value in fields.items() if key not in ordered)
    for key, value in ordered.items():
        if isinstance(value, dict):
            inner = get(reference, key, source="", where="")
            ordered[key] = _ordered_like(value, inner.value if inner else None)
    return ordered


def _patch_volumes(
    pod: Pod,
    volumes: Sequence[AuditVolume],
    edits: list[Edit],
    record: _Record,
    *,
    adopt: bool,
) -> None:
    container = pod.container
    spec = pod.spec.value
    assert isinstance(spec, MappingNode)
    for key, parent, parent_where, path_key, fields_of, pairs in (
        (
            "volumeMounts",
            container.node,
            container.field,
            "mountPath",
            _mount_fields,
            record.mounts,
        ),
        ("volumes", spec, "spec", "hostPath", _volume_fields, record.volumes),
    ):
        where = f"{parent_where}.{key}"
        entry = _sequence(pod, parent, key, parent_where)
        items = read_items(entry, path_key, where, pod.source)
        taken: dict[int, str] = {}
        new: list[tuple[str, dict[str, object]]] = []
        for volume in volumes:
            # Same name, or (for mounts) the same mountPath: the API server rejects duplicates,
            # so kaudit takes such an entry over and disable puts it back.
            conflicts = [
                item
                for item in items
                if item.name == volume.name
                or (key == "volumeMounts" and same_path(item.path, volume.mount_path))
            ]
            if len(conflicts) > 1:
                clashing = ", ".join(repr(item.name) for item in conflicts)
                raise error(
                    pod,
                    where,
                    f"{clashing} both clash with kaudit's {volume.name!r} (same name or path "
                    f"{volume.mount_path}); remove or rename one, then run kaudit again",
                )
            if not conflicts:
                reference = items[0].node if items else None
                new.append((volume.name, _ordered_like(fields_of(volume), reference)))
                pairs.append((volume.name, None))
                continue
            item = conflicts[0]
            if item.index in taken:
                raise error(
                    pod,
                    f"{where}[{item.index}]",
                    f"clashes with both {taken[item.index]!r} and {volume.name!r} that kaudit "
                    "adds; rename or remove it, then run kaudit again",
                )
            taken[item.index] = volume.name
            start, end = _span(item.node, pod.text)
            pairs.append((volume.name, None if adopt else pod.text[start:end]))
            fields = _ordered_like(fields_of(volume), item.node)
            edits.append(Edit(start, end, _value_text(pod, item.node, fields)))
        if not new:
            continue
        if entry is None:
            record.created.append(key)
            _insert_entry(pod, parent, key, [fields for _, fields in new], edits)
            continue
        assert isinstance(entry.value, SequenceNode)
        names = [item.name or "" for item in items]
        groups: dict[int, list[object]] = {}
        for name, fields in sorted(new) if names == sorted(names) else new:
            index = sum(1 for other in names if other <= name) if names == sorted(names) else None
            groups.setdefault(len(items) if index is None else index, []).append(fields)
        for index, group in groups.items():
            _insert_items(pod, entry.value, index, group, edits)


def _add_annotations(pod: Pod, config_hash: str, edits: list[Edit], record: _Record) -> None:
    metadata = pod.metadata.value
    assert isinstance(metadata, MappingNode)
    annotations = get_mapping(metadata, "annotations", source=pod.source, where="metadata")
    if annotations is None:
        record.created.append("annotations")
    values: dict[str, object] = {
        ANNOTATION_CONFIG_HASH: DoubleQuoted(config_hash),
        ANNOTATION_RESTORE: SingleQuoted(record.to_json()),
    }
    if annotations is None:
        _insert_entry(pod, metadata, "annotations", values, edits)
        return
    assert isinstance(annotations.value, MappingNode)
    for key, value in values.items():
        _insert_entry(pod, annotations.value, key, value, edits)


# --- inserting -------------------------------------------------------------------------------


def _flow_separator(spans: list[tuple[int, int]], text: str) -> str:
    if len(spans) >= 2:
        between = text[spans[0][1] : spans[1][0]]
        if between.count(",") == 1 and between.strip() == ",":
            return between
    return ", "


def _flow_insert(
    node: Node, spans: list[tuple[int, int]], index: int, rendered: list[str], text: str
) -> Edit:
    """Items inserted before spans[index] of a flow collection (see _text's docstring)."""
    separator = _flow_separator(spans, text)
    if index > 0:
        at = spans[index - 1][1]
        return Edit(at, at, "".join(separator + item for item in rendered))
    if spans:
        at = spans[0][0]
        return Edit(at, at, "".join(item + separator for item in rendered))
    at = node.start_mark.index + 1
    return Edit(at, at, ", ".join(rendered))


def _item_spans(seq: SequenceNode, text: str) -> list[tuple[int, int]]:
    return [_span(item, text) for item in seq.value]


def _entry_spans(mapping: MappingNode, text: str) -> list[tuple[int, int]]:
    spans = []
    for key, value in mapping.value:
        end = content_end(value, text) or content_end(key, text)
        assert end is not None
        spans.append((int(key.start_mark.index), end))
    return spans


def _span(node: Node, text: str) -> tuple[int, int]:
    end = content_end(node, text)
    start = int(node.start_mark.index)
    return start, start if end is None else end


def _dash_line(pod: Pod, item: Node) -> int:
    dash = dash_index(item, pod.text)
    if dash is None:
        raise error(pod, "(document)", f"line {item.start_mark.line + 1}: unexpected list layout")
    return pod.lines.line_of(dash)


def _last_line(pod: Pod, node: Node) -> int:
    end = content_end(node, pod.text)
    return pod.lines.line_of((end if end is not None else int(node.start_mark.index) + 1) - 1)


def _insert_items(
    pod: Pod, seq: SequenceNode, index: int, items: list[object], edits: list[Edit]
) -> None:
    """New items before seq[index] (index == len(seq): after the last), in its style."""
    if is_flow(seq):
        spans = _item_spans(seq, pod.text)
        edits.append(_flow_insert(seq, spans, index, [flow(i) for i in items], pod.text))
        return
    reference = seq.value[min(index, len(seq.value) - 1)]
    dash = dash_index(reference, pod.text)
    assert dash is not None
    dash_line = pod.lines.line_of(dash)
    dash_column = dash - pod.lines.start(dash_line)
    item_offset = 2
    if pod.lines.line_of(reference.start_mark.index) == dash_line:
        item_offset = max(int(reference.start_mark.column) - dash_column, 2)
    style = BlockStyle(pod.style.mapping_step, 0, item_offset)
    lines = [line for item in items for line in block_item_lines(item, dash_column, style)]
    if index < len(seq.value):
        edits.append(pod.lines.insert_before(_dash_line(pod, seq.value[index]), lines))
    else:
        edits.append(pod.lines.insert_after(_last_line(pod, seq.value[-1]), lines))


def _insert_entry(
    pod: Pod, mapping: MappingNode, key: str, value: object, edits: list[Edit]
) -> None:
    """A new key in a mapping: at its sorted place when the keys are sorted, else last."""
    keys = [str(key_node.value) for key_node, _ in mapping.value]
    index = sum(1 for other in keys if other <= key) if keys == sorted(keys) else len(keys)
    if is_flow(mapping):
        spans = _entry_spans(mapping, pod.text)
        rendered = f"{flow(key)}: {flow(value)}"
        edits.append(_flow_insert(mapping, spans, index, [rendered], pod.text))
        return
    column = int(mapping.value[0][0].start_mark.column)
    lines = block_entry_lines(key, value, column, pod.style)
    if index < len(keys):
        key_node = mapping.value[index][0]
        # Not before a key that shares its line with a `- ` (the first key of a list item).
        if pod.lines.indent_before(key_node.start_mark.index) is not None:
            line = pod.lines.line_of(key_node.start_mark.index)
            edits.append(pod.lines.insert_before(line, lines))
            return
    last_key, last_value = mapping.value[-1]
    end = content_end(last_value, pod.text) or content_end(last_key, pod.text)
    assert end is not None
    edits.append(pod.lines.insert_after(pod.lines.line_of(end - 1), lines))


def _value_text(pod: Pod, node: Node, value: object) -> str:
    if is_flow(node):
        return flow(value)
    column = int(node.start_mark.column)
    return block_value_text(value, column, pod.style, pod.lines.eol)


# --- disable ---------------------------------------------------------------------------------


class _Removal:
    """Removals and restorations on one enabled text, merged so that they never overlap."""

    def __init__(self, pod: Pod) -> None:
        self.pod = pod
        self.line_ranges: list[tuple[int, int]] = []
        self.other: list[Edit] = []
        # Flow collections: all indexes first, so that consecutive items go as one run.
        self.flow: dict[int, tuple[list[tuple[int, int]], set[int]]] = {}

    def replace(self, node: Node, original: str) -> None:
        start, end = _span(node, self.pod.text)
        self.other.append(Edit(start, end, original))

    def items(self, seq: SequenceNode, indexes: Iterable[int]) -> None:
        if is_flow(seq):
            spans = _item_spans(seq, self.pod.text)
            self.flow.setdefault(id(seq), (spans, set()))[1].update(indexes)
            return
        for index in indexes:
            item = seq.value[index]
            self.line_ranges.append((_dash_line(self.pod, item), _last_line(self.pod, item)))

    def entries(self, mapping: MappingNode, indexes: Iterable[int]) -> None:
        if is_flow(mapping):
            spans = _entry_spans(mapping, self.pod.text)
            self.flow.setdefault(id(mapping), (spans, set()))[1].update(indexes)
            return
        lines = self.pod.lines
        for index in indexes:
            key, value = mapping.value[index]
            first = lines.line_of(key.start_mark.index)
            has_value = content_end(value, self.pod.text) is not None
            self.line_ranges.append((first, _last_line(self.pod, value) if has_value else first))

    def _flow_runs(self, spans: list[tuple[int, int]], indexes: set[int]) -> list[Edit]:
        runs: list[list[int]] = []
        for index in sorted(indexes):
            if runs and runs[-1][-1] == index - 1:
                runs[-1].append(index)
            else:
                runs.append([index])
        edits = []
        for run in runs:
            first, last = run[0], run[-1]
            if first > 0:
                edits.append(Edit(spans[first - 1][1], spans[last][1], ""))
            elif last + 1 < len(spans):
                edits.append(Edit(spans[first][0], spans[last + 1][0], ""))
            else:
                edits.append(Edit(spans[first][0], spans[last][1], ""))
        return edits

    def edits(self) -> list[Edit]:
        merged: list[list[int]] = []
        for first, last in sorted(self.line_ranges):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        flow_edits = [
            edit
            for spans, indexes in self.flow.values()
            for edit in self._flow_runs(spans, indexes)
        ]
        lines = [self.pod.lines.remove(first, last) for first, last in merged]
        return self.other + flow_edits + lines


def _entry_index(mapping: MappingNode, key: str) -> int:
    return next(i for i, (key_node, _) in enumerate(mapping.value) if key_node.value == key)


def _edited_since(pod: Pod, where: str, what: str) -> Exception:
    return error(
        pod,
        where,
        f"{what}, which is not what kaudit recorded when it enabled audit logging: the "
        "manifest was edited since. Restore it from the backup kaudit made before enabling, "
        "or remove the kaudit.io annotations and the audit settings by hand",
    )


def _sequence(pod: Pod, parent: Node, key: str, where: str) -> Entry | None:
    assert isinstance(parent, MappingNode)
    return get_sequence(parent, key, source=pod.source, where=where)


# --- annotations and the record --------------------------------------------------------------


def _annotations(pod: Pod) -> MappingNode | None:
    metadata = pod.metadata.value
    assert isinstance(metadata, MappingNode)
    entry = get(metadata, "annotations", source=pod.source, where="metadata")
    if entry is None or not isinstance(entry.value, MappingNode):
        return None
    return entry.value


def _kaudit_entries(pod: Pod) -> list[int]:
    annotations = _annotations(pod)
    if annotations is None:
        return []
    return [
        index
        for index, (key, _) in enumerate(annotations.value)
        if key.value in (ANNOTATION_CONFIG_HASH, ANNOTATION_RESTORE)
    ]


def _load_record(pod: Pod) -> _Record:
    where = f"metadata.annotations.{ANNOTATION_RESTORE}"
    annotations = _annotations(pod)
    entry = (
        get(annotations, ANNOTATION_RESTORE, source=pod.source, where=where)
        if annotations
        else None
    )
    raw = scalar_text(entry.value) if entry else None
    invalid = error(
        pod,
        where,
        "is missing or is not the record kaudit writes, so kaudit cannot tell what to put back; "
        "restore the manifest from the backup kaudit made before enabling",
    )
    if raw is None:
        raise invalid
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # A hand-edited record: deep nesting or a 5000-digit number is as invalid as bad JSON.
        raise invalid from None
    if not isinstance(data, dict) or data.get("v") != _RECORD_VERSION:
        raise invalid
    record = _Record()
    for key in ("flags", "mounts", "volumes"):
        pairs = data.get(key)
        if not isinstance(pairs, list):
            raise invalid
        for pair in pairs:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not isinstance(pair[0], str)
                or not (pair[1] is None or isinstance(pair[1], str))
            ):
                raise invalid
            getattr(record, key).append((pair[0], pair[1]))
    created = data.get("created")
    if not isinstance(created, list) or not all(isinstance(key, str) for key in created):
        raise invalid
    record.created = list(created)
    return record


def _audit_flags(pod: Pod) -> tuple[tuple[str, str], ...]:
    container = pod.container
    if container.shell is None:
        return tuple((flag.name, flag.value) for flag in container.flags if _is_audit_flag(flag))
    try:
        words = shlex.split(container.shell, comments=False)
    except ValueError as exc:
        raise error(pod, f"{container.field}.command", f"shell string: {exc}") from None
    flags: list[tuple[str, str]] = []
    started = False
    for position, word in enumerate(words):
        if not started:
            started = word.rsplit("/", 1)[-1] == APISERVER
            continue
        if word.startswith("--audit-"):
            name, equals, value = word.partition("=")
            if not equals and position + 1 < len(words) and not words[position + 1].startswith("-"):
                value = words[position + 1]
            flags.append((name, value))
    return tuple(flags)


def _is_audit_flag(flag: Flag) -> bool:
    return flag.name.startswith("--audit-")
