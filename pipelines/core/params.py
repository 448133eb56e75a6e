"""The schema of params.yaml: the one place for knobs and thresholds (reading the file is
pipelines.adapters.params). The `serve:` section is pipelines.core.params_serve, re-exported here.

Every section is a pydantic model that forbids unknown keys, so a typo such as `lerning_rate`
fails at load time with the key named, instead of being silently ignored. The estimators'
sections under `train:` are validated by the params model each estimator declares in
pipelines/yours/estimators.py, passed in as a list.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pipelines.core.estimators import Estimator, unknown_estimator
from pipelines.core.metrics import known
from pipelines.core.params_jobs import FeatureBudgets, FeatureCostParams, StalenessParams, TuneParams
from pipelines.core.params_serve import (  # noqa: F401 (the serve models are re-exported)
    PositiveInt,
    Section,
    ServeChallengerParams,
    ServeFeedbackParams,
    ServeLogParams,
    ServeParams,
)
from pipelines.errors import PipelineError

Metric = Annotated[str, AfterValidator(known)]  # a name in pipelines/core/metrics.py's table


class ParamsError(PipelineError, ValueError):
    """params.yaml is missing, unreadable, or breaks its schema."""


_Section = Section  # every section forbids unknown keys and is frozen (pipelines.core.params_serve)
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class DataParams(_Section):
    """data: how raw tables are read (by validate, init, ingest and monitor --labelled)."""

    missing_values: list[str]


class SplitParams(_Section):
    """split: the held-out fraction, the seed, whether to stratify on the label."""

    test_size: Fraction
    seed: int
    stratify: bool
    order_by: str | None = None


class TrainParams(BaseModel):
    """The estimator and its hyper-parameters: one section per estimator, named as in the list of
    pipelines/yours/estimators.py; only the chosen estimator's section is required."""

    # extra keys are the estimators' sections, checked against the estimator list by `check_estimators`
    model_config = ConfigDict(extra="allow", frozen=True)

    estimator: Annotated[str, Field(min_length=1)]
    seed: int
    reference_bins: Annotated[int, Field(ge=2, le=100)]
    reference_discrete_max: Annotated[int, Field(ge=1)]

    def sections(self) -> dict[str, Any]:
        """The estimators' sections as written in params.yaml, by estimator name."""
        return dict(self.model_extra or {})

    def check_estimators(self, estimators: Mapping[str, Estimator]) -> list[str]:
        """Every problem with the estimator sections against the estimator list, one line each (empty: fine)."""
        problems = []
        if self.estimator not in estimators:
            problems.append(unknown_estimator(self.estimator, estimators))
        elif self.estimator not in self.sections():
            problems.append(
                f"train.estimator is {self.estimator!r} but params.yaml has no train.{self.estimator} section"
            )
        for name, values in self.sections().items():
            if name not in estimators:
                problems.append(f"train.{name}: unknown key (not an estimator in pipelines/yours/estimators.py)")
                continue
            try:
                estimators[name].params.model_validate(values or {})
            except ValidationError as exc:
                problems += [f"train.{name}.{_describe(e)}" for e in exc.errors()]
        return problems

    def options(self, estimators: Mapping[str, Estimator]) -> BaseModel:
        """The chosen estimator's hyper-parameters, validated by its params model."""
        entry = estimators[self.estimator]
        return entry.params.model_validate(self.sections().get(self.estimator) or {})


class IntervalParams(_Section):
    """evaluate.intervals: the percentile bootstrap of the holdout metrics (pipelines.core.intervals)."""

    method: Literal["percentile"]
    resamples: Annotated[int, Field(ge=200)]
    level: Fraction
    seed: int
    max_cells: Annotated[int, Field(ge=1_000_000)]
    max_rows: Annotated[int, Field(ge=1_000)]


class SliceSpec(_Section):
    """One entry of evaluate.slices (or .sensitive): a raw column whose values each make a slice, or with `edges`
    (increasing numbers) whose bins do (pipelines.core.slices)."""

    column: Annotated[str, Field(min_length=1)]
    edges: Annotated[list[float], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _increasing(self) -> SliceSpec:
        if self.edges is not None and any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"edges of {self.column!r} must increase strictly: {self.edges}")
        return self


class EvaluateParams(_Section):
    """evaluate: the decision threshold, importance and curve settings, recorded holdout rows, intervals."""

    threshold: Fraction
    permutation_repeats: PositiveInt
    permutation_max_samples: PositiveInt
    calibration_bins: Annotated[int, Field(ge=2)]
    curve_points: Annotated[int, Field(ge=10)]
    seed: int
    recorded_rows: PositiveInt
    intervals: IntervalParams
    # a simpler model fit on the same training split and scored on the same holdout rows, its hyper-parameters
    # in train.<name> (reports/baseline.json; the gate's gate.baseline_rule); None: no baseline
    baseline: Annotated[str, Field(min_length=1)] | None
    # the task's metrics per slice of the holdout (reports/slices.json; gate.slice_floors and gate.slice_rule)
    slices: list[SliceSpec]
    slice_min_rows: Annotated[int, Field(ge=10)]  # a slice with fewer holdout rows is reported, not judged
    benefit_margin: Annotated[float, Field(ge=0)]  # an input whose benefit's upper bound is at most this adds nothing
    sensitive: list[SliceSpec]  # columns whose groups the model should treat alike (pipelines.core.inclusion)


class MlflowParams(_Section):
    """mlflow: the experiment every pipeline run is logged to."""

    experiment: Annotated[str, Field(min_length=1)]
    background: bool  # log each run in a detached process (never in CI); `python -m pipelines track` flushes


# YAML 1.1 (PyYAML, which reads params.yaml) reads an unquoted `off` as false, and tools that rewrite the file
# (`dvc exp run -S`, YAML 1.2) drop the quotes: a rule's "off" is accepted either way
Off = BeforeValidator(lambda value: "off" if value is False else value)
GroupGap = Literal["demographic_parity_difference", "equalized_odds_difference", "mae_difference"]


class GateParams(_Section):
    """Merge rules: absolute floors (ceilings for lower-is-better metrics) and allowed regression."""

    floors: dict[Metric, float]
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]]
    # per metric, how max_regression is judged: "point" (this - base on the point estimates, the default for
    # a metric not listed) or "non_inferiority" (the paired interval's bound of this - base must clear it)
    regression_rule: dict[Metric, Literal["point", "non_inferiority"]]
    # against evaluate.baseline on the task's primary metric, paired on the same holdout rows: "simpler_not_better"
    # fails when the baseline is better beyond the interval, "beat_baseline" unless the candidate is better beyond
    # it, "off" reports without judging
    baseline_rule: Annotated[Literal["simpler_not_better", "beat_baseline", "off"], Off]
    # per slice of evaluate.slices (its name as reports/slices.json gives it: "column=value", "a<=column<b"), a
    # floor (ceiling) per metric
    slice_floors: dict[str, dict[Metric, float]]
    # "no_worse": no slice's primary metric worse than the base's beyond its paired interval (Bonferroni over the
    # slices) and max_regression; "off" reports without judging
    slice_rule: Annotated[Literal["no_worse", "off"], Off]
    # per column of evaluate.sensitive, per gap, the largest allowed between its groups (pipelines.core.inclusion)
    max_group_gap: dict[str, dict[GroupGap, Annotated[float, Field(ge=0)]]]
    # a model input whose benefit's interval (reports/features.json) has its upper bound at or below 0 adds nothing:
    # "new_features" fails a change that adds one, "off" reports without judging (pipelines.core.benefit)
    feature_rule: Annotated[Literal["new_features", "off"], Off]
    feature_budgets: FeatureBudgets  # per input, over one and no significant benefit fails (`feature-cost`)


class ReproduceParams(_Section):
    """What counts as reproducing the pipeline on another machine (pipelines.core.reproduce).

    Numbers a (reproduced) and b (committed) agree when |a - b| <= tolerance * max(1, |b|): an
    absolute tolerance for values up to 1 (probabilities, most metrics), a relative one above.
    """

    exact_stages: list[str]
    # metrics.json is written with 6 decimals: two runs that differ in the 12th digit can round
    # 1e-6 apart, so a tolerance below the written precision would fail on rounding alone
    tolerance: Annotated[float, Field(ge=1e-6)]
    prediction_tolerance: Annotated[float, Field(gt=0.0)]


class CiParams(_Section):
    """Which changed files make a pull request re-run the pipeline (fnmatch globs)."""

    pipeline_paths: Annotated[list[str], Field(min_length=1)]


class EnvironmentParams(_Section):
    """One environment: its branch name, what it is promoted from, its rollback policy and tolerances."""

    name: Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,58}[a-z0-9])?$")]  # a branch; ml-<name> a namespace
    promote_from: Annotated[str, Field(min_length=1)]
    rollback: Literal["commit", "pull_request"]
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]] | None = None


class EnvironmentsParams(_Section):
    """environments: the registered model name and the environments in promotion order (`order`; the key was
    `stages` before template 2026-12, still read: see RENAMED_KEYS)."""

    model_name: Annotated[str, Field(min_length=1)]
    order: Annotated[list[EnvironmentParams], Field(min_length=1)]

    def get(self, name: str) -> EnvironmentParams:
        """The environment named `name`; ParamsError naming the ones params.yaml defines."""
        for env in self.order:
            if env.name == name:
                return env
        raise ParamsError(f"unknown environment {name!r}; params.yaml defines: {', '.join(e.name for e in self.order)}")

    def next_after(self, name: str) -> EnvironmentParams | None:
        """The environment promoted from `name` (staging after main, production after staging)."""
        return next((env for env in self.order if env.promote_from == name), None)


class MonitorParams(_Section):
    """monitor: where the prediction log is, the window (hours) and the drift thresholds."""

    logs: str | None = None
    window_hours: Annotated[float, Field(gt=0)]
    max_rows: PositiveInt
    min_rows: PositiveInt
    psi_threshold: Annotated[float, Field(gt=0)]
    ks_alpha: Fraction
    ks_min_statistic: Fraction
    chi2_min_effect: Annotated[float, Field(gt=0)]
    missing_rate_change: Fraction
    feedback: str | None = None  # where outcomes are read; None: serve.feedback.directory
    min_labelled_rows: PositiveInt
    # GitHub disables a public repository's scheduled workflows after 60 days without activity: warn this
    # many days after the default branch's last commit (pipelines keepalive)
    inactivity_warning_days: Annotated[int, Field(gt=0, lt=60)]


class IngestParams(_Section):
    """ingest: where fresh batches come from (a path or URL glob, or SQL) and the quarantine folder."""

    source: str | None = None
    sql_url_env: str | None = None
    sql_query: str | None = None
    quarantine: str
    feedback: bool = False  # also ingest the live rows whose outcomes came back (prediction log + feedback log)


class Params(_Section):
    """The whole of params.yaml, one section per stage or concern."""

    data: DataParams
    split: SplitParams
    train: TrainParams
    tune: TuneParams
    staleness: StalenessParams
    feature_cost: FeatureCostParams
    evaluate: EvaluateParams
    mlflow: MlflowParams
    gate: GateParams
    reproduce: ReproduceParams
    ci: CiParams
    serve: ServeParams
    environments: EnvironmentsParams
    monitor: MonitorParams
    ingest: IngestParams


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    if error["type"] == "value_error" and isinstance(error.get("input"), dict):  # a rule across keys: its message
        return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


RENAMED_KEYS: dict[str, str] = {
    # old dotted key -> new one. Read under the old name until the next template version a fork takes
    # (docs/FORKING.md, "Taking template updates"), with a one-line deprecation message (`renamed_keys`).
    "environments.stages": "environments.order",  # "stages" are DVC's; these are environments in promotion order
}


def renamed_keys(data: Any) -> list[str]:
    """Rename, in place, every old key of RENAMED_KEYS that `data` (a parsed params.yaml) still uses; one line per
    key renamed, for the caller to show. A file that has both names keeps the new one's value and says so."""
    notes: list[str] = []
    if not isinstance(data, dict):
        return notes
    for old, new in RENAMED_KEYS.items():
        *parents, leaf = old.split(".")
        node: Any = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        value, target = node.pop(leaf), new.rsplit(".", 1)[1]
        if target in node:
            notes.append(f"params.yaml: {old} is ignored: {new} is set too; delete {old}")
            continue
        node[target] = value
        notes.append(f"params.yaml: {old} is deprecated, renamed {new}; rename it (read under the old name for now)")
    return notes


def parse_params(data: Any, source: str = "params.yaml", estimators: Mapping[str, Estimator] | None = None) -> Params:
    """Validate a parsed params mapping; raise ParamsError naming every bad key. Old key names (RENAMED_KEYS) are
    read as the new ones; call `renamed_keys` first to tell the user.

    With `estimators` (the estimator list), the estimator sections under `train:` are checked too.
    """
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = copy.deepcopy(data)
    renamed_keys(data)
    try:
        params = Params.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ParamsError(f"{source} is invalid:\n{lines}") from None
    problems = params.train.check_estimators(estimators) if estimators is not None else []
    baseline = params.evaluate.baseline
    if estimators is not None and baseline is not None and baseline not in params.train.sections():
        known = baseline in estimators
        problems.append(
            f"evaluate.baseline is {baseline!r} but params.yaml has no train.{baseline} section"
            if known
            else f"evaluate.baseline: {baseline!r} is not in pipelines/yours/estimators.py; one of: "
            + ", ".join(estimators)
        )
    if problems:
        raise ParamsError(f"{source} is invalid:\n" + "\n".join(f"  - {p}" for p in problems))
    return params


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'seed': 1}} -> {'train.seed': 1}, the form MLflow and `dvc params diff` use."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def stage_params(flat: dict[str, Any] | None, sections: Sequence[str]) -> dict[str, Any] | None:
    """The flattened params of `sections` only (the ones the pipeline's stages read, from dvc.yaml: see
    pipelines.adapters.params.stage_sections), so both sides of a report compare the same slice."""
    return None if flat is None else {k: v for k, v in flat.items() if k.split(".")[0] in sections}


def feedback_location(params: Params, override: str | None = None) -> str:
    """Where outcomes are read from: `override`, else monitor.feedback, else serve.feedback.directory."""
    return str(override or params.monitor.feedback or params.serve.feedback.directory)
