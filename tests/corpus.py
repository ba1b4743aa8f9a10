"""Where the shared corpus lives, for the tests that read it.

The corpus of real manifests and policies sits in ../shared beside the clone (it is not ours to
commit); a clone without it skips the corpus tests instead of failing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.run_summary import not_run_here

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_ROOT = REPO_ROOT.parent / "shared"
CORPUS_ROOT = SHARED_ROOT / "corpus"
# One reason for every test of the corpus and the seed, so the end of the run counts them as one.
NO_SHARED = not_run_here(
    f"no ../shared beside this clone ({SHARED_ROOT}): the corpus and seed tests"
)


def shared_file(*parts: str) -> Path:
    """Return a path under ../shared, skipping the calling test where the clone has none."""
    path = SHARED_ROOT.joinpath(*parts)
    if not SHARED_ROOT.is_dir():
        pytest.skip(NO_SHARED)
    if not path.exists():
        pytest.skip(not_run_here(f"{path} is not in ../shared"))
    return path


def corpus_files(kind: str) -> list[Path]:
    """Every corpus file of one kind ("manifests" or "policies"), sorted; [] without ../shared."""
    folder = CORPUS_ROOT / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".yaml")


def corpus_params(kind: str) -> list[object]:
    """pytest parameters for every corpus file, or one skipped parameter where there is none."""
    files = corpus_files(kind)
    if not files:
        reason = NO_SHARED if not SHARED_ROOT.is_dir() else not_run_here(f"no {CORPUS_ROOT / kind}")
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(p, id=p.name) for p in files]
