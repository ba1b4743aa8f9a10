"""The policies kaudit ships, read from the packaged presets/*.yaml files.

Each preset is a real Policy file with comments saying what it logs and why, so that
`kaudit policy preset NAME` and the file on the host can be read on their own. They are parsed
with the same validator as user files, and the tests hold every preset to zero lint warnings.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Final

from kaudit.policy.model import Policy, PolicyError, PolicyProblem
from kaudit.policy.validation import parse_policy_text

PRESET_NAMES: Final = ("Recommended", "Metadata", "WriteRequestBodies", "AllRequestBodies", "None")


def preset_names() -> tuple[str, ...]:
    """The preset names, most recommended first."""
    return PRESET_NAMES


def preset_text(name: str) -> str:
    """The packaged file of a preset, comments included."""
    _check_name(name)
    return resources.files("kaudit.policy").joinpath("presets", f"{name}.yaml").read_text("utf-8")


@functools.cache
def preset_policy(name: str) -> Policy:
    """The preset's Policy; PolicyError naming the valid presets for an unknown name."""
    return parse_policy_text(preset_text(name), source=f"preset {name}")


def _check_name(name: str) -> None:
    if name not in PRESET_NAMES:
        known = ", ".join(PRESET_NAMES)
        raise PolicyError(
            [
                PolicyProblem(
                    source=f"preset {name}",
                    field="",
                    message=f"Unsupported value: {name!r}: known presets: {known}",
                    severity="error",
                )
            ]
        )
