"""Slices: the model's quality on groups of holdout rows, "model quality is sufficient on all important data
slices" (Breck et al. 2017, The ML Test Score, model test 6). Pure: frames and model outputs in, documents out.

`evaluate.slices` names raw columns: a model input, or a column the contract keeps beside the inputs
(pipelines/yours/schema.py `RawData`: `init` keeps identifiers, timestamps and other left-out columns there, so
they reach the split's holdout, build/test.parquet). A column without `edges` makes one slice per value; with
`edges` e1 < ... < ek, the bins `c<e1`, `e1<=c<e2`, ..., `c>=ek`, the same for the base and the candidate
because the edges are in params.yaml. Missing values make a slice of their own, `c=missing`.

Each slice gets the task's metrics (pipelines.core.metrics) with the same percentile-bootstrap intervals as the
whole holdout (pipelines.core.intervals), and its row count. A slice is judged when it has at least
`evaluate.slice_min_rows` rows and, for a label, holds every class; otherwise it is reported with the reason
and no gate rule passes or fails on it silently (pipelines.core.gate.slice_rules).

Against the base (`paired_slices`), each judged slice's primary metric is compared on the same recorded holdout
rows, paired, at the level Bonferroni-corrected for the number of slices compared: 1 - (1 - level) / k.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.intervals import intervals, paired
from pipelines.core.metrics import score
from pipelines.core.params import IntervalParams, ParamsError, SliceSpec

MAX_VALUES = 20  # a column without edges with more distinct values than this is refused: give it edges
# ... and a personal one with more than this: each slice's name is a value its rows hold, so a slice per value is a
# value list of a personal column (init proposes a slice per value of at most 10 values, template/slicing.py)
MAX_PERSONAL_VALUES = 10


@dataclass(frozen=True)
class Slice:
    """One slice: its `column`, its `name` (as gate.slice_floors and reports/slices.json write it) and `mask`
    (n booleans over the frame's rows)."""

    column: str
    name: str
    mask: np.ndarray


def _edge(value: float) -> str:
    return f"{value:g}"


def bin_names(column: str, edges: Sequence[float]) -> list[str]:
    """The names of the k + 1 bins of `edges` (k increasing numbers): c<e1, e1<=c<e2, ..., c>=ek."""
    inner = [f"{_edge(a)}<={column}<{_edge(b)}" for a, b in itertools.pairwise(edges)]
    return [f"{column}<{_edge(edges[0])}", *inner, f"{column}>={_edge(edges[-1])}"]


def check_columns(specs: Sequence[SliceSpec], raw: Mapping[str, Any], key: str = "evaluate.slices") -> None:
    """Refuse slices the contract cannot give (ParamsError naming each, under `key`): a column not in the raw
    schema `raw` (column name -> pandera Column), a column named twice, and `edges` on a column that is not
    numeric."""
    columns = [spec.column for spec in specs]
    problems = [f"{c!r} is named twice" for c in sorted({c for c in columns if columns.count(c) > 1})]
    for spec in specs:
        if spec.column not in raw:
            problems.append(f"{spec.column!r} is not a column of the data contract (RawData in pipelines/yours/"
                            "schema.py keeps model inputs and left-out columns; add it there)")  # fmt: skip
        elif spec.edges is not None and not pd.api.types.is_numeric_dtype(str(raw[spec.column].dtype)):
            problems.append(f"{spec.column!r} has edges but is not numeric ({raw[spec.column].dtype})")
    if problems:
        raise ParamsError(f"{key}: " + "; ".join(problems))


def check_rules(
    specs: Sequence[SliceSpec],
    sensitive: Sequence[SliceSpec],
    floors: Mapping[str, Any],
    gaps: Mapping[str, Any],
) -> None:
    """Refuse gate rules that can never judge anything (ParamsError naming each): a `gate.slice_floors` name no
    spec of evaluate.slices can make (a bin its edges do not have, a column it does not name), and a
    `gate.max_group_gap` column not in evaluate.sensitive. A typo would otherwise disable the rule silently."""
    possible = {spec.column: [*bin_names(spec.column, spec.edges), f"{spec.column}=missing"] if spec.edges else None
                for spec in specs}  # fmt: skip

    def makes(name: str) -> bool:
        return any(name in names if names is not None else name.startswith(f"{column}=")
                   for column, names in possible.items())  # fmt: skip

    problems = [
        f"gate.slice_floors: {name!r} is not a slice evaluate.slices makes" for name in floors if not makes(name)
    ]
    named = [spec.column for spec in sensitive]
    problems += [f"gate.max_group_gap: {column!r} is not a column of evaluate.sensitive ({', '.join(named) or 'none'})"
                 for column in gaps if column not in named]  # fmt: skip
    if problems:
        raise ParamsError("; ".join(problems) + " (slice names: `column=value`, or the bins of its edges, "
                          "`c<e1`, `e1<=c<e2`, `c>=ek`; reports/slices.json lists them)")  # fmt: skip


def check_personal(
    specs: Sequence[SliceSpec], frame: pd.DataFrame, personal: Sequence[str], key: str = "evaluate.slices"
) -> None:
    """Refuse (ParamsError naming each, under `key`) a spec without `edges` on a `personal` column with more than
    MAX_PERSONAL_VALUES distinct values in `frame` (rows x raw columns): its slice names would list people's
    values in reports/slices.json, the report, the figures and MLflow (docs/OPERATIONS.md, Privacy)."""
    problems = [
        f"{spec.column!r} is personal and has {frame[spec.column].nunique()} distinct values: slice it by `edges` "
        f"(bins name no one), or by value only with at most {MAX_PERSONAL_VALUES} values"
        for spec in specs
        if spec.edges is None and spec.column in personal and frame[spec.column].nunique() > MAX_PERSONAL_VALUES
    ]
    if problems:
        raise ParamsError(f"{key}: " + "; ".join(problems))


def slices(frame: pd.DataFrame, specs: Sequence[SliceSpec], key: str = "evaluate.slices") -> list[Slice]:
    """Every slice of `frame` (rows x raw columns) that `specs` define and that holds at least one row, in spec
    order (values sorted as text, bins in order, missing last). ParamsError for a column without edges and
    more than MAX_VALUES distinct values."""
    out: list[Slice] = []
    for spec in specs:
        col = frame[spec.column]
        missing = col.isna().to_numpy()
        if spec.edges is not None:
            values = pd.to_numeric(col).to_numpy(dtype=float)
            position = np.searchsorted(np.asarray(spec.edges, dtype=float), values, side="right")
            groups = [(name, ~missing & (position == i)) for i, name in enumerate(bin_names(spec.column, spec.edges))]
        else:
            text = col.astype(str).to_numpy()
            present = sorted(set(text[~missing]))
            if len(present) > MAX_VALUES:
                raise ParamsError(f"{key}: {spec.column!r} has {len(present)} distinct values in the holdout "
                                  f"(more than {MAX_VALUES}); give it edges to bin it")  # fmt: skip
            groups = [(f"{spec.column}={value}", ~missing & (text == value)) for value in present]
        groups.append((f"{spec.column}=missing", missing))
        out += [Slice(spec.column, name, mask) for name, mask in groups if mask.any()]
    return out


def why_not_judged(y: np.ndarray, mask: np.ndarray, min_rows: int, classes: Any) -> str | None:
    """Why a slice is reported but not judged (None: it is judged): fewer than `min_rows` rows, or, for a label
    (`classes` not None), a class of the model absent from it (its metrics would be undefined or biased)."""
    rows = int(mask.sum())
    if rows < min_rows:
        return f"too small to judge: {rows} rows, evaluate.slice_min_rows is {min_rows}"
    if classes is not None:
        absent = sorted(set(map(str, classes)) - set(map(str, y[mask])))
        if absent:
            return f"not judged: no row of class {', '.join(absent)} in it"
    return None


def document(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    classes: Any,
    found: Sequence[Slice],
    threshold: float,
    settings: IntervalParams,
    min_rows: int,
) -> dict[str, Any]:
    """reports/slices.json: per slice its column, name, rows, whether it is judged (else why not), and the
    task's metrics on its rows with their bootstrap intervals (y: n true values; output: as `model_output`)."""
    entries = []
    for piece in found:
        reason = why_not_judged(y, piece.mask, min_rows, classes)
        entry: dict[str, Any] = {"column": piece.column, "slice": piece.name, "rows": int(piece.mask.sum())}
        ys, out = y[piece.mask], output[piece.mask]
        scores = score(ys, out, task=task, classes=classes, threshold=threshold) if reason is None else {}
        shown = {k: (v if math.isfinite(v) else None) for k, v in scores.items()}
        bands = intervals(task, ys, out, classes, threshold, settings) if reason is None else {}
        entry.update(judged=reason is None, reason=reason, metrics=shown, intervals=bands)
        entries.append(entry)
    return {"level": settings.level, "min_rows": min_rows, "slices": entries}


def bonferroni(level: float, comparisons: int) -> float:
    """The per-comparison level that keeps the chance of any false alarm over `comparisons` at 1 - `level`
    (Bonferroni): 1 - (1 - level) / comparisons."""
    return 1 - (1 - level) / max(1, comparisons)


def paired_slices(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    base_output: np.ndarray,
    classes: Any,
    found: Sequence[Slice],
    threshold: float,
    settings: IntervalParams,
    min_rows: int,
    metric: str,
    weights: np.ndarray | None = None,
) -> dict[str, dict[str, Any]]:
    """Per slice (by name): this - base on `metric`, paired on the same rows, {"difference", "low", "high",
    "rows", "level"} at the Bonferroni-corrected level over the slices compared; or {"rows", "reason"} for a
    slice too small to compare. `found` masks the same n rows as `y`; `weights` as in intervals.paired."""
    reasons = {s.name: why_not_judged(y, s.mask, min_rows, classes) for s in found}
    level = bonferroni(settings.level, sum(r is None for r in reasons.values()))
    corrected = settings.model_copy(update={"level": level})
    out: dict[str, dict[str, Any]] = {}
    for piece in found:
        rows = int(piece.mask.sum())
        if reasons[piece.name] is not None:
            out[piece.name] = {"rows": rows, "reason": reasons[piece.name]}
            continue
        w = None if weights is None else np.asarray(weights)[piece.mask]
        diff = paired(task, y[piece.mask], output[piece.mask], base_output[piece.mask], classes, threshold,
                      corrected, w)[metric]  # fmt: skip
        out[piece.name] = {**diff, "rows": rows, "level": round(level, 6)}
    return out


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics of a slice entry that are numbers (JSON null for an undefined one dropped)."""
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
