"""The slices init proposes for a new table (evaluate.slices) and their floors (gate.slice_floors).

A slice is worth judging when it is a group people ask about and the holdout has enough of it to measure:
- up to MAX_CATEGORICAL text (or yes/no) model inputs (or protected attributes kept beside them) with 2 to
  MAX_LEVELS values, of which at least two have `evaluate.slice_min_rows` rows in the holdout;
- one number, cut at its quantiles (edges at 3 significant digits) into as many bins as the holdout fills
  with HEADROOM x `slice_min_rows` rows each (2 to MAX_BINS): a column named like an age first, else the first numeric
  input with at least MIN_DISTINCT values.

Each judged slice gets a floor on the task's primary metric the way gate.floors are set
(pipelines.template.floors): below what the first model reaches on that slice, by SCORE_MARGIN or down to its
bootstrap interval's low end, whichever is lower (a slice is small, so its noise is wider), and never where the
trivial model would pass it on that slice. Review them: init cannot know which groups matter to your users.

Inclusion (evaluate.sensitive, gate.max_group_gap): the columns named like a protected attribute (sex,
gender, age, race, ...; init keeps them beside the inputs, on the deny-list), their groups judged like slices,
and a limit on the gap in error rates between them (pipelines.core.inclusion) that the first model meets.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.params import SliceSpec
from pipelines.core.tasks import task_spec
from pipelines.template import floors
from pipelines.template.infer import SENSITIVE_NAME, Inferred, _outward

MAX_CATEGORICAL = 2
MAX_LEVELS = 10
MAX_BINS = 4
MIN_DISTINCT = 10
HEADROOM = 1.25  # quantile bins are planned at 1.25 x slice_min_rows rows, so that rounding leaves each judged
AGE_LIKE = re.compile(r"(^|[^a-z])(age|age_years|years_old)($|[^a-z])", re.I)


def _edges(values: pd.Series, bins: int) -> list[float]:
    """The inner quantile edges of `values` for `bins` bins, at 3 significant digits, without repeats."""
    cuts = values.dropna().astype(float).quantile([i / bins for i in range(1, bins)]).to_numpy()
    rounded = sorted({float(f"{c:.3g}") for c in cuts if math.isfinite(c)})
    low, high = float(values.min()), float(values.max())
    return [e for e in rounded if low < e <= high]


def propose(fit: floors.FirstFit, inferred: Inferred, min_rows: int) -> list[SliceSpec]:
    """The slices worth judging on this table (see the module docstring), from the columns `inferred` made
    model inputs and the holdout of `fit`; [] when none has enough holdout rows."""
    test = fit.test
    specs: list[SliceSpec] = []
    columns = [*inferred.features, *(c for c in inferred.others if SENSITIVE_NAME.search(c.name))]
    for column in columns:
        if len([s for s in specs if s.edges is None]) == MAX_CATEGORICAL:
            break
        if column.kind != "str" or column.categories is None or not 2 <= len(column.categories) <= MAX_LEVELS:
            continue
        counts = test[column.name].dropna().astype(str).value_counts()
        if int((counts >= min_rows).sum()) >= 2:
            specs.append(SliceSpec(column=column.name))
    numbers = [c.name for c in columns if c.kind == "float" and test[c.name].nunique() >= MIN_DISTINCT]
    numbers.sort(key=lambda name: not AGE_LIKE.search(name))  # stable: an age first, else the table's order
    if numbers:
        specs += _binned(test, numbers[0], min_rows)
    return specs


def _binned(test: pd.DataFrame, column: str, min_rows: int) -> list[SliceSpec]:
    """`column` cut at quantile edges into as many bins as the holdout fills (HEADROOM), or [] for none."""
    bins = min(MAX_BINS, int(len(test) / (HEADROOM * max(1, min_rows))))
    edges = _edges(test[column], bins) if bins >= 2 else []
    return [SliceSpec(column=column, edges=edges)] if edges else []


def propose_sensitive(fit: floors.FirstFit, inferred: Inferred, min_rows: int) -> list[SliceSpec]:
    """evaluate.sensitive: the columns named like a protected attribute (SENSITIVE_NAME; init keeps them beside the
    inputs, on the deny-list, unless --keep-columns made them inputs): a text column of
    2 to MAX_LEVELS values, or a number of that few values (a code), by value; a number with more, in bins."""
    specs: list[SliceSpec] = []
    for column in (c for c in [*inferred.features, *inferred.others] if SENSITIVE_NAME.search(c.name)):
        distinct = fit.test[column.name].nunique()
        text = column.kind == "str" and column.categories is not None and 2 <= len(column.categories) <= MAX_LEVELS
        if text or (column.kind == "float" and 2 <= distinct <= MAX_LEVELS):
            specs.append(SliceSpec(column=column.name))
        elif column.kind == "float" and distinct >= MIN_DISTINCT:
            specs += _binned(fit.test, column.name, min_rows)
    return specs


def group_gap_limits(
    fit: floors.FirstFit, contract: Contract, params: Any, specs: list[SliceSpec]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """gate.max_group_gap for evaluate.sensitive `specs`: per column, a limit on the error-rate gap (a label's
    equalized_odds_difference, a number's mae_difference) at the high end of the first model's interval, so that
    it passes and a model treating a group clearly worse does not; the selection-rate gap is reported only (groups
    may differ in their base rates). And one line per column with its gaps."""
    from pipelines.core import inclusion, slices

    task = contract.task
    groups = {s.column: slices.slices(fit.test, [s]) for s in specs}
    settings, y = params.evaluate, fit.test[contract.target].to_numpy()
    doc = inclusion.document(task, y, fit.outputs[0], fit.classes[0], groups, settings.threshold, settings.intervals,
                             settings.slice_min_rows)  # fmt: skip
    gated = "mae_difference" if task == "regression" else "equalized_odds_difference"
    limits: dict[str, dict[str, float]] = {}
    lines = []
    for entry in doc["columns"]:
        if not entry["gaps"]:
            lines.append(f"{entry['column']}: {entry['reason']}")
            continue
        high = entry["gaps"][gated]["high"]
        limit = _outward(high, up=True) if task == "regression" else floors.rounded(high, up=True)
        limits[entry["column"]] = {gated: limit}
        shown = ", ".join(f"{k} {v['value']:.4f} [{v['low']:.4f}, {v['high']:.4f}]" for k, v in entry["gaps"].items())
        lines.append(f"{entry['column']}: {shown}; limit {gated} <= {limit}")
    return limits, lines


def slice_floors(
    fit: floors.FirstFit, contract: Contract, params: Any, specs: list[SliceSpec]
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """gate.slice_floors for `specs`: per judged slice, a floor on the primary metric (see the module
    docstring; the primary metrics, roc_auc, f1_macro and r2, are higher-is-better scores); and one line per
    slice saying its rows and the first model's value, or why it is not judged."""
    from pipelines.core import slices
    from pipelines.core.intervals import intervals

    primary, task = task_spec(contract.task).primary, contract.task
    y = fit.test[contract.target].to_numpy()
    min_rows, threshold = params.evaluate.slice_min_rows, params.evaluate.threshold
    found, out, lines = slices.slices(fit.test, specs), {}, []
    for piece in found:
        reason = slices.why_not_judged(y, piece.mask, min_rows, fit.classes[0])
        rows = int(piece.mask.sum())
        if reason is not None:
            lines.append(f"{piece.name}: {rows} holdout rows, {reason}")
            continue
        first, trivial = floors.scores_of(fit, contract, threshold, piece.mask)
        value = first[primary]
        if not math.isfinite(value):
            lines.append(f"{piece.name}: {rows} holdout rows, {primary} undefined on it: no floor")
            continue
        band = intervals(task, y[piece.mask], fit.outputs[0][piece.mask], fit.classes[0], threshold,
                         params.evaluate.intervals)[primary]  # fmt: skip
        limit = floors.rounded(min(value - floors.SCORE_MARGIN, float(band["low"])), up=False)
        floor = floors.keep_lead(value, limit, trivial.get(primary), lower_is_better=False)
        out[piece.name] = {primary: floor}
        lines.append(f"{piece.name}: {rows} holdout rows, {primary} {value:.4f} (trivial model {trivial[primary]:.4f})"
                     f", floor {floor}")  # fmt: skip
    return out, lines


def edges_note(specs: list[SliceSpec]) -> str:
    """One line naming the proposed slices, for init's notes."""
    shown = [s.column + (f" cut at {', '.join(f'{e:g}' for e in s.edges)}" if s.edges else " (each value)")
             for s in specs]  # fmt: skip
    return "slices judged on the holdout (evaluate.slices; review which groups matter): " + "; ".join(shown)
