"""One prediction explained: the row through each preprocessing step, each input's contribution, the output.

Data in, data out (`python -m pipelines explain` reads the log and the model; pipelines/jobs/explain.py):
- `input_frame`: a row (column -> value) checked against the contract's inputs, as the model's one-row frame;
- `explain`: a fitted Pipeline(preprocess=ColumnTransformer, estimator) on that row: every step's output
  (imputed, scaled, one-hot columns named by `get_feature_names_out`), the contributions, the model's output
  and whether it matches a logged one;
- the text and JSON forms are pipelines/core/explain_text.py.

Contributions, and the equality each one is checked against before anything is returned (ExplainError if not):
- a linear model (coef_, intercept_: LogisticRegression, Ridge): coefficient x transformed value per transformed
  column, summed per raw input column, plus the intercept; they add up to the decision value (binary: the
  log-odds of the second class; multiclass: each class's logit, the softmax's input; regression: the
  prediction, in the target's units) within CONTRIBUTION_TOLERANCE. Exact by construction (the model is a sum).
- a tree ensemble (random forest, histogram gradient boosting): exact interventional Shapley values with the raw
  input columns as players, against a background sample of training rows (pipelines/core/shapley.py, which names
  the method and its sources); they add up to the output (a forest's probability or value, boosting's raw score:
  log-odds, a class's logit, or the value) minus its mean over the background, within CONTRIBUTION_TOLERANCE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.core import shapley
from pipelines.core.names import shown
from pipelines.errors import PipelineError

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.core.contract import Contract

CONTRIBUTION_TOLERANCE = 1e-9
"""Contributions plus the base must equal the model's value within this, relative to max(1, |value|)."""
LOGGED_RTOL, LOGGED_ATOL = 1e-9, 1e-15
"""The output agrees with the logged one when |a - b| <= LOGGED_RTOL * max(|a|, |b|) + LOGGED_ATOL (the floor is a
few units in the last place of 1.0: a probability that rounds to 0 one way and 1e-16 the other still agrees)."""


class ExplainError(PipelineError):
    """A row, log entry or model that cannot be explained (named in one line), or an explanation that does not add
    up (a bug, never hidden)."""


def input_frame(row: Mapping[str, Any], contract: Contract) -> pd.DataFrame:
    """`row` (input column -> value, None for a missing value) as a one-row frame of exactly the contract's input
    columns, validated and coerced by `contract.inputs`. ExplainError naming the missing or extra columns, or each
    failed check."""
    import pandas as pd

    from pipelines.core.validation import DataValidationError, validate

    names = contract.features
    missing, extra = [c for c in names if c not in row], sorted(str(c) for c in row if c not in names)
    if missing or extra:
        raise ExplainError(
            "the row does not have the model's input columns:"
            + (f" missing {_few(missing)}" if missing else "")
            + (";" if missing and extra else "")
            + (f" not an input {_few(extra)}" if extra else "")
        )
    frame = pd.DataFrame([[row[c] for c in names]], columns=names)
    try:
        return validate(frame, contract.inputs)[0]
    except DataValidationError as exc:
        checks = "; ".join(f"{shown(str(c['column']))}: {c['check']}" for c in exc.report.checks)
        raise ExplainError(f"the row breaks the input contract: {checks}") from None


def _few(names: list[str], limit: int = 8) -> str:
    shown_names = ", ".join(map(shown, names[:limit]))
    return shown_names + (f" ... ({len(names)} in all)" if len(names) > limit else "")


@dataclass(frozen=True)
class Step:
    """One preprocessing step's output for the row: `part` (the ColumnTransformer's), `step` (its name in the part's
    Pipeline), `kind` (the class), and per output column its `names`, `values` and `inputs` (the raw column it
    came from); `missing` flags the raw values that were missing (an imputer's filled cells)."""

    part: str
    step: str
    kind: str
    names: list[str]
    values: list[Any]
    inputs: list[str]
    missing: list[bool] = field(default_factory=list)


def _origins(step: Any, before: list[int], names_in: list[str], names_out: list[str], width: int) -> list[int]:
    """The raw column (by position) of each of a step's `width` output columns, from its inputs' `before`."""
    if width == len(before):
        return list(before)
    counts = getattr(step, "_n_features_outs", None)  # OneHotEncoder: outputs per input (drop, infrequent counted)
    if counts is not None and sum(counts) == width and len(counts) == len(before):
        return [origin for origin, n in zip(before, counts, strict=True) for _ in range(int(n))]
    if set(names_out) <= set(names_in):  # a step that dropped columns (an imputer's all-missing ones)
        return [before[names_in.index(n)] for n in names_out]
    raise ExplainError(f"cannot tell which input each output of {type(step).__name__} comes from")


def _names_out(step: Any, names_in: list[str], width: int, prefix: str) -> list[str]:
    try:
        names = [str(n) for n in step.get_feature_names_out(names_in)]
    except (AttributeError, ValueError, TypeError):
        names = []
    return names if len(names) == width else [f"{prefix}{i}" for i in range(width)]


def preprocessing(model: Any, frame: pd.DataFrame) -> tuple[list[Step], np.ndarray, list[str], np.ndarray]:
    """Every step of the pipeline's ColumnTransformer on the one-row `frame`: (steps, the transformed row
    (features), the transformed columns' names, the raw column (position in `frame`) of each). ExplainError for a
    pipeline of another shape, or when the steps do not reproduce the transformer's own output exactly."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    preprocess = model.steps[0][1] if isinstance(model, Pipeline) and len(model.steps) == 2 else None
    if not isinstance(preprocess, ColumnTransformer):
        raise ExplainError("only a Pipeline(preprocess=ColumnTransformer, estimator) is explained")
    raw = [str(c) for c in frame.columns]
    taken = [str(c) for c in getattr(model, "feature_names_in_", raw)]
    if sorted(taken) != sorted(raw):
        lacks, extra = [c for c in taken if c not in raw], [c for c in raw if c not in taken]
        raise ExplainError(
            "the model was trained on other input columns than the contract's"
            + (f"; it also takes {_few(lacks)}" if lacks else "")
            + (f"; it does not take {_few(extra)}" if extra else "")
        )
    steps, blocks, names, origins = [], [], [], []
    for part, fitted, columns in preprocess.transformers_:
        if (isinstance(fitted, str) and fitted == "drop") or not len(columns):
            continue
        chain: list[tuple[str, Any]] = (
            [("passthrough", None)] if isinstance(fitted, str) else getattr(fitted, "steps", [(part, fitted)])
        )
        picked = [raw[c] if isinstance(c, int | np.integer) else str(c) for c in columns]
        current: Any = frame[picked]
        here, before = picked, [raw.index(c) for c in picked]
        missing = [bool(v) for v in frame[picked].isna().to_numpy()[0]]
        for name, step in chain:
            through = step is None or isinstance(step, str)  # "passthrough"
            out = current if through else step.transform(current)
            out = out.toarray() if hasattr(out, "toarray") else np.asarray(out)
            names_out = here if through else _names_out(step, here, out.shape[1], f"{part}_{name}_")
            origin = _origins(step, before, here, names_out, out.shape[1])
            steps.append(Step(part, name, "passthrough" if through else type(step).__name__, names_out,
                              [_plain(v) for v in out[0]], [raw[o] for o in origin],
                              [missing[before.index(o)] for o in origin]))  # fmt: skip
            current, here, before = out, names_out, origin
        blocks.append(np.asarray(current, dtype=np.float64))
        names += here
        origins += before
    features = np.hstack(blocks)[0]
    expected = np.asarray(preprocess.transform(frame), dtype=np.float64)[0]
    if not np.array_equal(features, expected, equal_nan=True):
        raise ExplainError("the preprocessing steps one by one do not reproduce the ColumnTransformer's output")
    return steps, features, names, np.asarray(origins, dtype=np.int64)


def _plain(value: Any) -> Any:
    """A cell as JSON holds it: a Python number or text, None for missing."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class Contributions:
    """Each raw input's contribution to each explained output (`by_input`: inputs x outputs), with `base` (the
    intercept, or the expected value over the background) and `total` = base + their sum, which equals `value`,
    the model's own number on that `scale`. For a linear model also per transformed column (`by_feature`:
    features x outputs, and its `coefficients`)."""

    method: str
    source: str
    scale: str
    outputs: list[str]
    base_label: str
    base: np.ndarray
    by_input: np.ndarray
    total: np.ndarray
    value: np.ndarray
    by_feature: np.ndarray | None = None
    coefficients: np.ndarray | None = None


def _check(total: np.ndarray, value: np.ndarray, what: str) -> None:
    """ExplainError unless the contributions add up to the model's value (CONTRIBUTION_TOLERANCE)."""
    gap = np.abs(total - value) / np.maximum(1.0, np.abs(value))
    if not np.all(gap <= CONTRIBUTION_TOLERANCE):
        raise ExplainError(f"the contributions do not add up to the model's {what} (off by {gap.max():.3g} relative)")


def _labels(classes: Any) -> list[str]:
    return [str(c) for c in classes]


def linear(estimator: Any, x: np.ndarray, origins: np.ndarray, n_raw: int, classes: Any) -> Contributions | None:
    """Exact contributions of a fitted linear model (coef_ and intercept_) on the transformed row `x` (features,),
    whose feature j comes from raw column `origins[j]` (of `n_raw`): per feature coef_j * x_j (features x outputs),
    summed per raw column (n_raw x outputs), plus the intercept. Outputs and units: the log-odds of the second class
    (binary), each class's logit (multiclass: the softmax's input), the prediction in the target's units
    (regression). Source: the model's own definition, decision = intercept + sum_j coef_j * x_j
    (scikit-learn's `decision_function`, Ridge's `predict`). ExplainError when the sum differs from the model's
    decision value beyond CONTRIBUTION_TOLERANCE; None for another estimator."""
    if not (hasattr(estimator, "coef_") and hasattr(estimator, "intercept_")):
        return None
    coefficients = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64)).T  # features x outputs
    if coefficients.shape[0] != len(x):
        return None
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    by_feature = coefficients * x[:, None]
    by_input = np.zeros((n_raw, by_feature.shape[1]))
    np.add.at(by_input, origins, by_feature)
    total = intercept + by_feature.sum(axis=0)
    if classes is None:
        value, scale, outputs = np.atleast_1d(estimator.predict(x[None, :])[0]), "target units", ["value"]
    else:
        value = np.atleast_1d(np.asarray(estimator.decision_function(x[None, :]), dtype=np.float64)[0])
        binary = len(classes) == 2
        scale = f"log-odds of {shown(str(classes[1]))}" if binary else "logit (the softmax's input) per class"
        outputs = _labels(classes[1:] if binary else classes)
    _check(total, value, "decision value")
    return Contributions(
        "linear: coefficient x transformed value, per transformed column, summed per input column",
        "the model is a sum: decision = intercept + sum_j coef_j * x_j (scikit-learn's linear models)",
        scale, outputs, "intercept", intercept, by_input, total, value, by_feature, coefficients,
    )  # fmt: skip


def trees(
    estimator: Any, x: np.ndarray, background: np.ndarray | None, origins: np.ndarray, n_raw: int, classes: Any
) -> Contributions | None:
    """Exact interventional Shapley values of a fitted tree ensemble (pipelines.core.shapley) for the transformed
    row `x` against the transformed `background` rows (ExplainError when there are none); None for another
    estimator."""
    try:
        model = shapley.ensemble(estimator)
    except ValueError as exc:
        raise ExplainError(f"{type(estimator).__name__}: {exc}") from None
    if model is None:
        return None
    if background is None:
        raise ExplainError(f"{type(estimator).__name__} is explained against background rows; none were given")
    if model.scale == "probability":
        own = np.asarray(estimator.predict_proba(x[None, :]), dtype=np.float64)[0]
    elif model.scale == "value":
        own = np.atleast_1d(np.asarray(estimator.predict(x[None, :]), dtype=np.float64)[0])
    elif classes is not None:
        own = np.atleast_1d(np.asarray(estimator.decision_function(x[None, :]), dtype=np.float64)[0])
    else:  # boosting's regressor: its raw score is the prediction for the identity link (squared error, the default)
        if getattr(estimator, "loss", "squared_error") not in ("squared_error", "absolute_error", "quantile"):
            raise ExplainError(f"{type(estimator).__name__} with loss {estimator.loss!r} is not explained")
        own = np.atleast_1d(np.asarray(estimator.predict(x[None, :]), dtype=np.float64)[0])
    read = shapley.output(model, x[None, :])[0]
    if read.shape != own.shape or not np.allclose(read, own, rtol=CONTRIBUTION_TOLERANCE, atol=CONTRIBUTION_TOLERANCE):
        raise ExplainError(f"the trees read from {type(estimator).__name__} do not give its own output")
    values, expected = shapley.shapley_values(model, x, background, origins, n_raw)
    keep = slice(1, 2) if classes is not None and len(classes) == 2 and len(own) == 2 else slice(None)
    values, expected, own = values[:, keep], expected[keep], own[keep]
    total = expected + values.sum(axis=0)
    _check(total, own, model.scale)
    if classes is None:
        scale, outputs = "target units", ["value"]
    elif len(classes) == 2:
        outputs = _labels(classes[1:])
        scale = f"{'probability' if model.scale == 'probability' else 'log-odds'} of {shown(outputs[0])}"
    else:
        outputs = _labels(classes)
        scale = "probability per class" if model.scale == "probability" else "raw score (the softmax's input) per class"
    return Contributions(
        "exact interventional Shapley values over the raw input columns (Tree SHAP, interventional)",
        "Lundberg et al. 2020, Nature Machine Intelligence 2:56-67; pipelines/core/shapley.py",
        scale, outputs, f"expected value over {len(background)} background rows", expected, values, total, own,
    )  # fmt: skip


@dataclass(frozen=True)
class Explanation:
    """A row explained: its `inputs` (column -> value), the preprocessing `steps`, the transformed `features`
    (names, values, the raw column of each), the `contributions`, the model's `output` (class probabilities in
    `classes` order, or the value) and, when a logged output was given, whether it `matches` (and the largest
    relative difference)."""

    inputs: dict[str, Any]
    steps: list[Step]
    feature_names: list[str]
    features: list[float]
    feature_inputs: list[str]
    contributions: Contributions
    classes: list[Any] | None
    output: list[float]
    logged: list[float] | None = None
    matches: bool | None = None
    difference: float | None = None
    estimator: str = ""


def agreement(output: Sequence[float], logged: Sequence[float]) -> tuple[bool, float]:
    """Whether `output` equals `logged` (LOGGED_RTOL, LOGGED_ATOL), and the largest relative difference."""
    a, b = np.asarray(output, dtype=np.float64).ravel(), np.asarray(logged, dtype=np.float64).ravel()
    if a.shape != b.shape or not np.all(np.isfinite(b)):
        return False, float("inf")
    gap = np.abs(a - b)
    size = np.maximum(np.abs(a), np.abs(b))
    relative = np.divide(gap, size, out=np.zeros_like(gap), where=size > 0)
    return bool(np.all(gap <= LOGGED_RTOL * size + LOGGED_ATOL)), float(relative.max(initial=0.0))


def explain(
    model: Any, frame: pd.DataFrame, background: pd.DataFrame | None = None, logged: Sequence[float] | None = None
) -> Explanation:
    """Explain the fitted pipeline `model` on the one-row `frame` (`input_frame`). `background` (raw input rows,
    the training split's) is needed for a tree ensemble; `logged` (the output the service logged: probabilities
    per class, or [value]) is compared with the model's output. ExplainError for an estimator without an exact
    method, a missing background, or contributions that do not add up."""
    from sklearn.base import is_classifier

    steps, x, names, origins = preprocessing(model, frame)
    estimator = model.steps[-1][1]
    classes = np.asarray(model.classes_) if is_classifier(model) else None
    n_raw = frame.shape[1]
    found = linear(estimator, x, origins, n_raw, classes)
    if found is None:
        rows = None
        if background is not None and len(background):
            rows = np.asarray(model.steps[0][1].transform(background[frame.columns]), dtype=np.float64)
        found = trees(estimator, x, rows, origins, n_raw, classes)
    if found is None:
        raise ExplainError(f"no exact contribution method for {type(estimator).__name__} (linear models and tree "
                           "ensembles have one)")  # fmt: skip
    own = model.predict_proba(frame)[0] if classes is not None else np.atleast_1d(model.predict(frame)[0])
    output = [float(v) for v in own]
    matches, difference = agreement(output, logged) if logged is not None else (None, None)
    return Explanation(
        {str(c): _plain(v) for c, v in zip(frame.columns, frame.iloc[0].tolist(), strict=True)},
        steps, names, [float(v) for v in x], [str(frame.columns[o]) for o in origins], found,
        None if classes is None else [_plain(c) for c in classes], output,
        None if logged is None else [float(v) for v in np.asarray(logged, dtype=np.float64).ravel()],
        matches, difference, type(estimator).__name__,
    )  # fmt: skip
