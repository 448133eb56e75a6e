"""What a revision committed: metrics, params, plot data, data profile, and provenance.

Everything here reads committed files with `git show`, so it needs no DVC cache or remote; a
file missing at the revision (the first pull request's base, say) is reported as None, never an
error. `provenance` is the one place that says which code and data a result came from.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines.adapters import dvc, git
from pipelines.core.data import parse_pointer
from pipelines.core.params import flatten
from pipelines.core.reports import DataChange
from pipelines.core.tasks import spec

DATA_POINTER = "data.dvc"  # the raw data's pointer, fixed by the template's layout


def _json(rev: str, path: str) -> Any:
    text = git.show(rev, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def metrics(rev: str, path: str) -> dict[str, float] | None:
    """The numeric entries of the metrics file committed at `rev`, or None."""
    data = _json(rev, path)
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else None


def params(rev: str, path: str = "params.yaml") -> dict[str, Any] | None:
    """The params file committed at `rev`, flattened (`train.seed`), or None."""
    text = git.show(rev, path)
    try:
        data = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None
    return flatten(data) if isinstance(data, dict) else None


def plots(rev: str, directory: str, task: str) -> dict[str, pd.DataFrame]:
    """The plot data committed at `rev` for `task`'s plot files (those that exist there)."""
    found = {}
    for key, name in spec(task).plot_files.items():
        text = git.show(rev, f"{directory}/{name}")
        if text:
            found[key] = pd.read_csv(io.StringIO(text))
    return found


def read_plots(directory: str | os.PathLike[str], task: str) -> dict[str, pd.DataFrame]:
    """The workspace's plot data, as written by `evaluate`."""
    root = Path(directory)
    return {key: pd.read_csv(root / name) for key, name in spec(task).plot_files.items() if (root / name).exists()}


def data_change(rev: str, dvc_file: str, validation_report: str, data_dir: str) -> DataChange | None:
    """None if `dvc_file` is the same at `rev` as in the workspace; else what changed."""
    if git.show(rev, dvc_file) == Path(dvc_file).read_text():
        return None
    before = _json(rev, validation_report) or {}
    after = json.loads(Path(validation_report).read_text()) if Path(validation_report).exists() else {}
    diff, error = dvc.diff(rev)
    lists: dict[str, list[str]] = {"added": [], "modified": [], "deleted": []}
    if diff is not None:
        for kind in lists:
            lists[kind] = sorted(
                e["path"] for e in diff.get(kind, []) if e["path"].startswith(data_dir.rstrip("/") + "/")
            )
    return DataChange(
        **lists,
        diff_error=error,
        rows_before=before.get("rows"),
        rows_after=after.get("rows"),
        valid=after.get("valid"),
        profile_before=before.get("profile"),
        profile_after=after.get("profile"),
    )


def data_hash_at(rev: str) -> str:
    """The raw data's hash that `data.dvc` records at `rev` ("unknown" when it has none)."""
    pointer = git.show(rev, DATA_POINTER)
    return parse_pointer(pointer, f"{rev}:{DATA_POINTER}")[1] if pointer else "unknown"


def workspace_data_hash() -> str:
    """The raw data's hash that the workspace's `data.dvc` records ("unknown" without one)."""
    path = Path(DATA_POINTER)
    return parse_pointer(path.read_text(), DATA_POINTER)[1] if path.exists() else "unknown"


def provenance(rev: str | None = None) -> dict[str, str]:
    """Where a result comes from: `git_commit` (with `-dirty` for uncommitted changes in the workspace) and
    `data_hash` (what data.dvc records), for the workspace, or for a revision `rev`."""
    if rev is None:
        return {"git_commit": git.commit(), "data_hash": workspace_data_hash()}
    return {"git_commit": git.resolve(rev) or "unknown", "data_hash": data_hash_at(rev)}
