"""What the base revision had: committed metrics, params, plot data and data profile, read from git.

Everything here reads committed files with `git show`, so it needs no DVC cache or remote; a
file missing at the base (the first pull request, say) is reported as None, never an error.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines import gitutil
from pipelines.plots import PLOT_FILES
from pipelines.report import DataChange
from pipelines.schema import TASK
from pipelines.tracking import flatten


def _json(rev: str, path: str) -> Any:
    text = gitutil.show(rev, path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def metrics(rev: str, path: str) -> dict[str, float] | None:
    data = _json(rev, path)
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else None


def params(rev: str, path: str = "params.yaml") -> dict[str, Any] | None:
    text = gitutil.show(rev, path)
    try:
        data = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return None
    return flatten(data) if isinstance(data, dict) else None


def plots(rev: str, directory: str) -> dict[str, pd.DataFrame]:
    found = {}
    for key, name in PLOT_FILES[TASK].items():
        text = gitutil.show(rev, f"{directory}/{name}")
        if text:
            found[key] = pd.read_csv(io.StringIO(text))
    return found


def read_plots(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The workspace's plot data, as written by `evaluate`."""
    root = Path(directory)
    return {key: pd.read_csv(root / name) for key, name in PLOT_FILES[TASK].items() if (root / name).exists()}


def data_change(rev: str, dvc_file: str, validation_report: str, data_dir: str) -> DataChange | None:
    """None if `dvc_file` is the same at `rev` as in the workspace; else what changed."""
    if gitutil.show(rev, dvc_file) == Path(dvc_file).read_text():
        return None
    before = _json(rev, validation_report) or {}
    after = json.loads(Path(validation_report).read_text()) if Path(validation_report).exists() else {}
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "diff", "--json", rev], capture_output=True, text=True, check=False
    )
    lists: dict[str, list[str]] = {"added": [], "modified": [], "deleted": []}
    error = None
    if result.returncode == 0:
        diff = json.loads(result.stdout or "{}")
        for kind in lists:
            lists[kind] = sorted(
                e["path"] for e in diff.get(kind, []) if e["path"].startswith(data_dir.rstrip("/") + "/")
            )
    else:
        error = (result.stderr.strip().splitlines() or ["dvc diff failed"])[-1]
    return DataChange(
        **lists,
        diff_error=error,
        rows_before=before.get("rows"),
        rows_after=after.get("rows"),
        valid=after.get("valid"),
        profile_before=before.get("profile"),
        profile_after=after.get("profile"),
    )
