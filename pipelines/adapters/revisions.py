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

import numpy as np
import pandas as pd
import yaml

from pipelines.adapters import dvc, git
from pipelines.core.data import DataChange, parse_pointer
from pipelines.core.params import flatten
from pipelines.core.tasks import task_spec

DATA_POINTER = "data.dvc"  # the raw data's pointer, fixed by the template's layout


def _json(rev: str, path: str) -> Any:
    return git.show_json(rev, path, strict=False)  # a report shows what a base has, and nothing for garbage


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
    for key, name in task_spec(task).plot_files.items():
        text = git.show(rev, f"{directory}/{name}")
        if text:
            found[key] = pd.read_csv(io.StringIO(text))
    return found


def read_plots(directory: str | os.PathLike[str], task: str) -> dict[str, pd.DataFrame]:
    """The workspace's plot data, as written by `evaluate`."""
    root = Path(directory)
    return {key: pd.read_csv(root / name) for key, name in task_spec(task).plot_files.items() if (root / name).exists()}


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


def intervals(rev: str | None, path: str) -> dict[str, Any] | None:
    """reports/intervals.json as committed at `rev` (or in the workspace, for None), or None when absent."""
    if rev is None:
        p = Path(path)
        return json.loads(p.read_text()) if p.exists() else None
    found = _json(rev, path)
    return found if isinstance(found, dict) else None


def paired_with_base(
    base: str, paths: dict[str, str], current: Any, contract: Any
) -> tuple[dict[str, dict[str, float]] | None, str, dict[str, dict[str, Any]] | None]:
    """The paired difference (this - base) of every metric on the same holdout rows, how it was made, and, when
    evaluate.slices names any, the primary metric's paired difference per slice of those rows
    (pipelines.core.slices.paired_slices; None without slices or with gate.slice_rule off).

    Both sides are the models' outputs recorded on fixed holdout rows (models/holdout_predictions.csv,
    committed), so the base model itself is not needed: no DVC remote, no registry, and it works on fork
    pull requests. The rows correspond when the base committed the same data pointer and split params and
    recorded the same rows; otherwise (None, the reason, None) and the comparison is unpaired.
    """
    from pipelines.adapters import files
    from pipelines.core.evaluate import recorded_weights
    from pipelines.core.intervals import paired, resamples_used

    name = paths["holdout_predictions"]
    text = git.show(base, name)
    if text is None:
        return None, f"unpaired: the base has no {name}", None
    head_pointer, base_pointer = Path(DATA_POINTER).read_text(), git.show(base, DATA_POINTER)
    if base_pointer is None or parse_pointer(base_pointer)[1] != parse_pointer(head_pointer)[1]:
        return None, "unpaired: the data changed, so the two holdouts are different rows", None
    head_split = flatten({"split": current.split.model_dump()})
    base_split = {k: v for k, v in (params(base) or {}).items() if k.startswith("split.")}
    if any(base_split.get(k) != v for k, v in head_split.items()):
        return None, "unpaired: the split params changed, so the two holdouts are different rows", None
    base_rows, head_rows = pd.read_csv(io.StringIO(text)), pd.read_csv(Path(name))
    if list(base_rows["row"]) != list(head_rows["row"]) or list(base_rows.columns) != list(head_rows.columns):
        return None, "unpaired: the base recorded other holdout rows or classes", None
    test = files.read_frame(paths["test"])
    positions = head_rows["row"].to_numpy()
    y = test[contract.target].iloc[positions].to_numpy()
    columns = [c for c in head_rows.columns if c != "row"]
    if contract.task == "regression":
        head_out, base_out, classes = head_rows["prediction"].to_numpy(), base_rows["prediction"].to_numpy(), None
    else:
        head_out, base_out = head_rows[columns].to_numpy(), base_rows[columns].to_numpy()
        y, classes = np.array([str(v) for v in y]), np.array(columns)
    settings = current.evaluate.intervals
    rows = len(head_rows)
    weights = (
        None if rows == len(test) else recorded_weights(test[contract.target].to_numpy(), positions, contract.task)
    )
    found = paired(contract.task, y, head_out, base_out, classes, current.evaluate.threshold, settings, weights)
    if rows == len(test):
        scope = "every holdout row"
    elif contract.task == "regression":
        scope = f"{rows} of {len(test)} holdout rows (evaluate.recorded_rows)"
    else:
        every = pd.Series(test[contract.target].astype(str).to_numpy()).value_counts()
        kept = pd.Series(y).value_counts()
        shares = ", ".join(f"{c} {int(kept.get(c, 0))} of {int(n)}" for c, n in sorted(every.items()))
        scope = (f"{rows} of {len(test)} holdout rows, stratified by class and weighted to the holdout's shares "
                 f"({shares}; evaluate.recorded_rows)")  # fmt: skip
    how = f"paired: both models' recorded outputs on {scope}, {resamples_used(settings, rows)} shared resamples"
    by_slice = None
    if current.evaluate.slices and current.gate.slice_rule != "off":
        from pipelines.core import slices

        found_slices = slices.slices(test.iloc[positions].reset_index(drop=True), current.evaluate.slices)
        by_slice = slices.paired_slices(contract.task, y, head_out, base_out, classes, found_slices,
                                        current.evaluate.threshold, settings, current.evaluate.slice_min_rows,
                                        task_spec(contract.task).primary, weights)  # fmt: skip
    return found, how, by_slice


def version_labels(digest: str, rev: str | None = None) -> dict[str, str]:
    """What /version reports for a model: its label `sha-<hash>`, hash, commit and data hash (of `rev`, else
    the workspace)."""
    return {"model_version": f"sha-{digest[:12]}", "model_hash": digest, **provenance(rev)}
