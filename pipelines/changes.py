"""Does a change need the pipeline? Decided from the changed paths and `ci.pipeline_paths`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase


def pipeline_relevant(changed: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The changed paths that match any pattern (fnmatch, where `*` also matches `/`)."""
    return [path for path in changed if any(fnmatchcase(path, pattern) for pattern in patterns)]
