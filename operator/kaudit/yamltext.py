"""Loading user YAML into plain data, with errors that say where the text is wrong.

The safe loader is enough here: files the user writes for kaudit (AuditConfig) are read for
their values. Host manifests, whose bytes must survive, are handled by kaudit.manifest.
"""

from __future__ import annotations

from io import StringIO

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError


class YamlTextError(ValueError):
    """Text that is not one YAML document; the message gives the line and column."""


def load_single_document(text: str) -> object:
    """Parse exactly one YAML document; an empty text or several documents are errors."""
    if not text.strip():
        raise YamlTextError("the file is empty")
    yaml = YAML(typ="safe", pure=True)
    try:
        documents = [doc for doc in yaml.load_all(StringIO(text)) if doc is not None]
    except MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlTextError(f"not valid YAML: {where}{error.problem}") from None
    except YAMLError as error:
        raise YamlTextError(f"not valid YAML: {error}") from None
    if not documents:
        raise YamlTextError("the file holds no YAML document")
    if len(documents) > 1:
        raise YamlTextError(f"expected one YAML document, found {len(documents)}")
    return documents[0]
