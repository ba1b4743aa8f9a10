"""kaudit's flags and volumes in kubeadm's ClusterConfiguration: pure, no I/O.

kubeadm keeps the cluster's configuration in the ConfigMap kube-system/kubeadm-config, key
ClusterConfiguration, and writes the kube-apiserver manifest from it again on `kubeadm upgrade`
and `kubeadm join --control-plane`. Settings that live only in the manifest are dropped there
(an agent puts them back, but only after the API server ran a while without audit logging).
Recorded under apiServer.extraArgs and apiServer.extraVolumes, kubeadm writes them itself.

Two schemas: kubeadm.k8s.io/v1beta3 writes extraArgs as a mapping name -> value,
kubeadm.k8s.io/v1beta4 (kubeadm 1.31 and later) as a list of {name, value}; extraVolumes is a
list of {name, hostPath, mountPath, readOnly, pathType} in both. Any other version is refused:
guessing at a schema kaudit does not know could make kubeadm refuse the whole file.

The document is edited through ruamel.yaml's round-trip loader, so that what kaudit does not
touch keeps its form (key order, comments, flow or block style, quotes); the indentation is the
one under which the text re-dumps unchanged. When nothing changes, the very same string comes
back, so a caller can skip the write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from kaudit.desired import AUDIT_FLAG_NAMES, AUDIT_VOLUME_NAMES
from kaudit.manifest import AuditPatch, AuditVolume
from kaudit.yamltext import YamlLimits, YamlTextError, bounded_yaml, check_expansion

NAMESPACE: Final = "kube-system"
CONFIG_MAP: Final = "kubeadm-config"
KEY: Final = "ClusterConfiguration"
KIND: Final = "ClusterConfiguration"
V1BETA3: Final = "kubeadm.k8s.io/v1beta3"
V1BETA4: Final = "kubeadm.k8s.io/v1beta4"
SUPPORTED_VERSIONS: Final = (V1BETA3, V1BETA4)
SOURCE: Final = f"ConfigMap {NAMESPACE}/{CONFIG_MAP} key {KEY}"

# kubeadm's extraArgs carry flag names without the leading dashes.
KAUDIT_ARG_NAMES: Final = frozenset(name.removeprefix("--") for name in AUDIT_FLAG_NAMES)

# (mapping indent, sequence indent, dash offset) to try, after ruamel.yaml's own guess:
# kubeadm's (Go yaml.v2: sequences not indented), then the usual hand-written styles.
_STYLES: Final = ((2, 2, 0), (2, 4, 2), (4, 4, 0), (4, 6, 2), (4, 4, 2))
# Wide enough that no value is ever folded onto a second line.
_WIDTH: Final = 1 << 16


class KubeadmConfigError(ValueError):
    """A ClusterConfiguration kaudit will not edit: where, which field, and why."""

    def __init__(self, *, field: str, reason: str, source: str = SOURCE) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {reason}")


def record_audit_settings(text: str, patch: AuditPatch) -> str:
    """The text with the flags and volumes of the patch recorded under apiServer.

    Entries of the same name are replaced in place (a second entry of that name is dropped:
    kube-apiserver would take one of them and ignore the other), and an arg kaudit can write
    that the patch no longer sets goes: left there, `kubeadm upgrade` would bring back, say, a
    --audit-log-mode the spec dropped. Every other arg and volume, and every other part of the
    document, stays as it is.
    """
    document = _Document.load(text)
    return document.dump() if _record(document, patch) else text


def remove_audit_settings(text: str) -> str:
    """The text without the args kaudit can write and the volumes kaudit names.

    Only names count: kubeadm's configuration keeps no record of who wrote an entry or what it
    replaced. An extraArgs or extraVolumes left empty goes (kubeadm omits empty ones); an
    apiServer left empty stays as `apiServer: {}`, as kubeadm writes it.
    """
    document = _Document.load(text)
    return document.dump() if _remove(document) else text


def records_audit_settings(text: str, patch: AuditPatch) -> bool:
    """Whether the text records exactly the patch: recording it again would change nothing."""
    return not _record(_Document.load(text), patch)


@dataclass
class _Document:
    yaml: YAML
    root: CommentedMap
    version: str

    @classmethod
    def load(cls, text: str) -> _Document:
        yaml = _new_yaml()
        try:
            # Aliases are counted on the composed nodes before anything is built from them.
            check_expansion(yaml.compose(text), YamlLimits())
            root, indent, offset = load_yaml_guess_indent(text, yaml=yaml)
        except MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise KubeadmConfigError(
                field="", reason=f"not valid YAML: {where}{error.problem}"
            ) from None
        except YAMLError as error:
            raise KubeadmConfigError(field="", reason=f"not valid YAML: {error}") from None
        except YamlTextError as error:
            # One of kaudit's limits on untrusted YAML (aliases, depth, size).
            raise KubeadmConfigError(field="", reason=str(error)) from None
        if not isinstance(root, CommentedMap):
            found = "nothing" if root is None else type(root).__name__
            raise KubeadmConfigError(field="", reason=f"expected a {KIND} mapping, found {found}")
        kind, version = root.get("kind"), root.get("apiVersion")
        if kind != KIND:
            raise KubeadmConfigError(field="kind", reason=f"expected {KIND}, found {kind!r}")
        if version not in SUPPORTED_VERSIONS:
            raise KubeadmConfigError(
                field="apiVersion",
                reason=f"kaudit edits {' and '.join(SUPPORTED_VERSIONS)}, found {version!r}; "
                "turn spec.kubeadmConfig.record off, or migrate the configuration "
                "(kubeadm config migrate)",
            )
        guessed = (indent, indent, offset or 0) if indent is not None else None
        return cls(yaml=_faithful_yaml(text, root, guessed), root=root, version=str(version))

    def dump(self) -> str:
        return _dump(self.yaml, self.root)


def _new_yaml(indent: tuple[int, int, int] | None = None) -> YAML:
    yaml = bounded_yaml("rt", YamlLimits())
    yaml.preserve_quotes = True
    yaml.width = _WIDTH
    if indent is not None:
        mapping, sequence, offset = indent
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, root: CommentedMap) -> str:
    out = StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _faithful_yaml(text: str, root: CommentedMap, guessed: tuple[int, int, int] | None) -> YAML:
    """A dumper under which the unchanged document gives back the text, when there is one."""
    candidates = ([guessed] if guessed is not None else []) + list(_STYLES)
    explicit_start = text.startswith("---")
    for indent in candidates:
        yaml = _new_yaml(indent)
        yaml.explicit_start = explicit_start
        if _dump(yaml, root) == text:
            return yaml
    # No style reproduces the text (say, mixed indentation): the values still come out right.
    yaml = _new_yaml(candidates[0])
    yaml.explicit_start = explicit_start
    return yaml


def _record(document: _Document, patch: AuditPatch) -> bool:
    api_server = _api_server(document, create=True)
    assert api_server is not None  # created when missing
    flags = tuple((name.removeprefix("--"), value) for name, value in patch.flags)
    stale = KAUDIT_ARG_NAMES - {name for name, _ in flags}
    changed = False
    if document.version == V1BETA3:
        args_map = _container(document, api_server, "extraArgs", CommentedMap, create=True)
        gone = [name for name in args_map if name in stale]
        for name in gone:
            del args_map[name]
        changed |= bool(gone) | _set_map_args(args_map, flags)
    else:
        args_list = _container(document, api_server, "extraArgs", CommentedSeq, create=True)
        changed |= _drop_items(args_list, lambda arg: arg.get("name") in stale)
        changed |= _set_list_args(args_list, flags)
    volumes = _container(document, api_server, "extraVolumes", CommentedSeq, create=True)
    changed |= _set_volumes(volumes, patch.volumes)
    return changed


def _remove(document: _Document) -> bool:
    api_server = _api_server(document, create=False)
    if api_server is None:
        return False
    touched: list[str] = []
    if document.version == V1BETA3:
        args_map = _container(document, api_server, "extraArgs", CommentedMap, create=False)
        gone = [name for name in args_map or () if name in KAUDIT_ARG_NAMES]
        for name in gone:
            del args_map[name]
        touched += ["extraArgs"] if gone else []
    else:
        args_list = _container(document, api_server, "extraArgs", CommentedSeq, create=False)
        if args_list is not None and _drop_items(
            args_list, lambda arg: arg.get("name") in KAUDIT_ARG_NAMES
        ):
            touched.append("extraArgs")
    volumes = _container(document, api_server, "extraVolumes", CommentedSeq, create=False)
    if volumes is not None and _drop_items(
        volumes, lambda volume: volume.get("name") in AUDIT_VOLUME_NAMES
    ):
        touched.append("extraVolumes")
    # Only what this removal emptied goes: an `extraArgs: []` the text had before stays.
    for key in touched:
        if not api_server[key]:
            del api_server[key]
    if touched and not api_server:
        api_server.fa.set_flow_style()
    return bool(touched)


def _api_server(document: _Document, *, create: bool) -> CommentedMap | None:
    root = document.root
    value = root.get("apiServer")
    if value is None:
        if not create:
            return None
        value = CommentedMap()
        if "apiServer" in root:
            root["apiServer"] = value  # `apiServer:` with no value
        else:
            _insert_sorted(root, "apiServer", value)
        return value
    if not isinstance(value, CommentedMap):
        raise KubeadmConfigError(
            field="apiServer", reason=f"must be a mapping, found {_describe(value)}"
        )
    if create and not value:
        value.fa.set_block_style()  # `apiServer: {}` is about to get block content
    return value


def _container(
    document: _Document,
    api_server: CommentedMap,
    key: str,
    kind: type[CommentedMap | CommentedSeq],
    *,
    create: bool,
) -> Any:
    """apiServer.<key> as kind (made when create and missing), checked against the schema."""
    value = api_server.get(key)
    if value is None:
        if not create:
            return None
        value = kind()
        if key in api_server:
            api_server[key] = value
        else:
            _insert_sorted(api_server, key, value)
        return value
    if not isinstance(value, kind):
        expected = "a mapping of name to value" if kind is CommentedMap else "a list"
        raise KubeadmConfigError(
            field=f"apiServer.{key}",
            reason=f"{document.version} writes it as {expected}, found {_describe(value)}",
        )
    if isinstance(value, CommentedSeq):
        for index, item in enumerate(value):
            if not isinstance(item, CommentedMap) or not isinstance(item.get("name"), str):
                raise KubeadmConfigError(
                    field=f"apiServer.{key}[{index}]",
                    reason=f"must be a mapping with a name, found {_describe(item)}",
                )
    if create and not value:
        value.fa.set_block_style()  # `[]` or `{}` about to get entries
    return value


def _set_map_args(args: CommentedMap, flags: tuple[tuple[str, str], ...]) -> bool:
    changed = False
    for name, value in flags:
        if name not in args:
            _insert_sorted(args, name, value)
            changed = True
        elif _text(args[name]) != value:
            args[name] = value
            changed = True
    return changed


def _set_list_args(args: CommentedSeq, flags: tuple[tuple[str, str], ...]) -> bool:
    changed = False
    for name, value in flags:
        first, duplicates = _find(args, name)
        if first is None:
            args.append(CommentedMap([("name", name), ("value", value)]))
            changed = True
            continue
        if _text(args[first].get("value")) != value:
            args[first]["value"] = value
            changed = True
        changed |= _delete_at(args, duplicates)
    return changed


def _set_volumes(volumes: CommentedSeq, wanted: tuple[AuditVolume, ...]) -> bool:
    changed = False
    for volume in wanted:
        entry = _volume_entry(volume)
        first, duplicates = _find(volumes, volume.name)
        if first is None:
            volumes.append(entry)
            changed = True
            continue
        if _volume_fields(volumes[first]) != _volume_fields(entry):
            volumes[first] = entry
            changed = True
        changed |= _delete_at(volumes, duplicates)
    return changed


def _volume_entry(volume: AuditVolume) -> CommentedMap:
    # kubeadm's own order and omissions (keys sorted; readOnly false and an empty pathType left
    # out), so that a later `kubeadm upgrade` rewriting the ConfigMap changes nothing here.
    entry = CommentedMap()
    entry["hostPath"] = volume.host_path
    entry["mountPath"] = volume.mount_path
    entry["name"] = volume.name
    if volume.host_path_type:
        entry["pathType"] = volume.host_path_type
    if volume.read_only:
        entry["readOnly"] = True
    return entry


def _volume_fields(entry: CommentedMap) -> tuple[str, str, str, bool, str]:
    return (
        _text(entry.get("name")),
        _text(entry.get("hostPath")),
        _text(entry.get("mountPath")),
        _text(entry.get("readOnly")) == "true",
        _text(entry.get("pathType")),
    )


def _find(items: CommentedSeq, name: str) -> tuple[int | None, list[int]]:
    """The first entry of that name and the positions of any further ones."""
    positions = [index for index, item in enumerate(items) if item.get("name") == name]
    return (positions[0], positions[1:]) if positions else (None, [])


def _delete_at(items: CommentedSeq, positions: list[int]) -> bool:
    for index in reversed(positions):
        del items[index]
    return bool(positions)


def _drop_items(items: CommentedSeq, drop: Callable[[CommentedMap], bool]) -> bool:
    return _delete_at(items, [index for index, item in enumerate(items) if drop(item)])


def _insert_sorted(mapping: CommentedMap, key: str, value: object) -> None:
    # Before the first key that sorts after it: where kubeadm, which sorts keys, would put it.
    keys: Iterator[tuple[int, Any]] = enumerate(mapping)
    position = next((index for index, existing in keys if str(existing) > key), len(mapping))
    mapping.insert(position, key, value)


def _text(value: object) -> str:
    """A scalar as kubeadm reads it into a string: `30` and "30" are the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(value: object) -> str:
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    return repr(value)
