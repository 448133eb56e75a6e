"""params.yaml, validated: the one place for knobs and thresholds.

Every section is a pydantic model that forbids unknown keys, so a typo such as `lerning_rate`
fails at load time with the key named, instead of being silently ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.errors import PipelineError

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(PipelineError, ValueError):
    """params.yaml is missing, unreadable, or breaks its schema."""


class _Section(BaseModel):
    # No defaults below (except None for "not set"): every value lives in params.yaml, once, and a
    # missing key is an error naming it rather than a silent fallback to a copy kept here.
    model_config = ConfigDict(extra="forbid", frozen=True)


Task = Literal["binary", "multiclass", "regression"]
"""What the target is: a yes/no label, one of several labels, or a number (set in pipelines/schema.py)."""
TASKS: tuple[str, ...] = get_args(Task)

Metric = Literal[
    "roc_auc", "average_precision", "f1", "precision", "recall", "accuracy", "log_loss",
    "balanced_accuracy", "f1_macro", "roc_auc_ovr",
    "r2", "rmse", "mae",
]  # fmt: skip
"""Every metric `evaluate` can report, and so every metric a gate rule can name."""
METRICS: tuple[str, ...] = get_args(Metric)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "average_precision", "f1", "precision", "recall", "accuracy", "log_loss"),
    "multiclass": ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc_ovr", "log_loss"),
    "regression": ("r2", "rmse", "mae"),
}
"""What `evaluate` reports for each task, in report order."""
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
IMPORTANCE_LABEL = {"binary": "ROC AUC", "multiclass": "accuracy", "regression": "R²"}
"""What permutation importance measures the drop of, per task (as people read it)."""

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]


class SplitParams(_Section):
    test_size: Fraction
    seed: int
    stratify: bool


class LogisticRegressionParams(_Section):
    C: Annotated[float, Field(gt=0.0)]
    max_iter: PositiveInt
    class_weight: Literal["balanced"] | None = None


class RandomForestParams(_Section):
    n_estimators: PositiveInt
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt
    class_weight: Literal["balanced", "balanced_subsample"] | None = None


class HistGradientBoostingParams(_Section):
    learning_rate: Annotated[float, Field(gt=0.0)]
    max_iter: PositiveInt
    max_leaf_nodes: Annotated[int, Field(ge=2)]
    l2_regularization: Annotated[float, Field(ge=0.0)]


class RidgeParams(_Section):
    alpha: Annotated[float, Field(ge=0.0)]


Estimator = Literal["logistic_regression", "ridge", "random_forest", "hist_gradient_boosting"]
CLASSIFIER_ONLY = frozenset({"logistic_regression"})
REGRESSOR_ONLY = frozenset({"ridge"})


class TrainParams(_Section):
    """The estimator and its hyper-parameters. Only the chosen estimator's section is required."""

    estimator: Estimator
    seed: int
    reference_bins: Annotated[int, Field(ge=2, le=100)]
    logistic_regression: LogisticRegressionParams | None = None
    ridge: RidgeParams | None = None
    random_forest: RandomForestParams | None = None
    hist_gradient_boosting: HistGradientBoostingParams | None = None

    @model_validator(mode="after")
    def _chosen_section_present(self) -> TrainParams:
        if getattr(self, self.estimator) is None:
            raise ValueError(
                f"train.estimator is {self.estimator!r} but params.yaml has no train.{self.estimator} section"
            )
        return self

    def estimator_params(self) -> BaseModel:
        """The hyper-parameters of the chosen estimator."""
        section: BaseModel = getattr(self, self.estimator)
        return section

    def check_task(self, task: str) -> None:
        """Refuse an estimator that cannot learn this task, naming the ones that can."""
        wrong = REGRESSOR_ONLY if task != "regression" else CLASSIFIER_ONLY
        if self.estimator in wrong:
            fits = [e for e in get_args(Estimator) if e not in wrong]
            raise ParamsError(
                f"train.estimator: {self.estimator} cannot learn a {task} task; use one of: {', '.join(fits)}"
            )


class EvaluateParams(_Section):
    threshold: Fraction
    permutation_repeats: PositiveInt
    permutation_max_samples: PositiveInt
    calibration_bins: Annotated[int, Field(ge=2)]
    curve_points: Annotated[int, Field(ge=10)]
    seed: int
    recorded_rows: PositiveInt


class MlflowParams(_Section):
    experiment: Annotated[str, Field(min_length=1)]


class GateParams(_Section):
    """Merge rules: absolute floors (ceilings for lower-is-better metrics) and allowed regression."""

    floors: dict[Metric, float]
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]]


class ReproduceParams(_Section):
    """What counts as reproducing the pipeline on another machine (pipelines.reproduce).

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


class ServeLogParams(_Section):
    directory: str
    sample_rate: Annotated[float, Field(ge=0.0, le=1.0)]
    max_rows_per_request: PositiveInt
    max_file_bytes: PositiveInt
    max_total_bytes: PositiveInt
    queue_size: PositiveInt


class ServeParams(_Section):
    host: str
    port: Annotated[int, Field(ge=0, le=65535)]
    max_body_bytes: PositiveInt
    request_timeout_seconds: Annotated[float, Field(gt=0)]
    inline_max_rows: PositiveInt
    graceful_shutdown_seconds: Annotated[float, Field(ge=0)]
    log: ServeLogParams


class EnvironmentParams(_Section):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    promote_from: Annotated[str, Field(min_length=1)]
    rollback: Literal["commit", "pull_request"]
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]] | None = None


class EnvironmentsParams(_Section):
    model_name: Annotated[str, Field(min_length=1)]
    stages: Annotated[list[EnvironmentParams], Field(min_length=1)]

    def get(self, name: str) -> EnvironmentParams:
        for env in self.stages:
            if env.name == name:
                return env
        raise ParamsError(
            f"unknown environment {name!r}; params.yaml defines: {', '.join(e.name for e in self.stages)}"
        )

    def next_after(self, name: str) -> EnvironmentParams | None:
        """The environment promoted from `name` (staging after main, production after staging)."""
        return next((env for env in self.stages if env.promote_from == name), None)


class MonitorParams(_Section):
    logs: str | None = None
    window_hours: Annotated[float, Field(gt=0)]
    max_rows: PositiveInt
    min_rows: PositiveInt
    psi_threshold: Annotated[float, Field(gt=0)]
    ks_alpha: Fraction
    ks_min_statistic: Fraction
    missing_rate_change: Fraction


class IngestParams(_Section):
    source: str | None = None
    sql_url_env: str | None = None
    sql_query: str | None = None
    quarantine: str


class Params(_Section):
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    mlflow: MlflowParams
    gate: GateParams
    reproduce: ReproduceParams
    ci: CiParams
    serve: ServeParams
    environments: EnvironmentsParams
    monitor: MonitorParams
    ingest: IngestParams


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {error['msg']} (got {error.get('input')!r})"


def parse_params(data: Any, source: str = "params.yaml") -> Params:
    """Validate a parsed params mapping; raise ParamsError naming every bad key."""
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(e)}" for e in exc.errors())  # type: ignore[arg-type]
        raise ParamsError(f"{source} is invalid:\n{lines}") from None


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{p}: file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{p}: not valid YAML: {exc}") from None
    return parse_params(data, str(p))


def load_paths(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> dict[str, str]:
    """The pipeline's paths, from the `vars: - paths:` block of dvc.yaml (where they are defined once)."""
    p = Path(dvc_yaml)
    try:
        for entry in yaml.safe_load(p.read_text(encoding="utf-8")).get("vars", []):
            if isinstance(entry, dict) and isinstance(entry.get("paths"), dict):
                return {str(k): str(v) for k, v in entry["paths"].items()}
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        raise ParamsError(f"{p}: cannot read the paths block ({exc})") from None
    raise ParamsError(f"{p}: no `vars: - paths:` block")


def load_outputs(dvc_yaml: str | os.PathLike[str] = "dvc.yaml") -> list[tuple[str, str, bool]]:
    """(stage, path, cached) for every output dvc.yaml declares (outs, metrics, plots), in order.

    `cached` is False for `cache: false` outputs, which git holds. Paths are resolved from the
    `vars: - paths:` block, the only templating dvc.yaml uses here.
    """
    import re

    paths = load_paths(dvc_yaml)
    stages = (yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8")) or {}).get("stages") or {}

    def resolve(text: str) -> str:
        return re.sub(r"\$\{paths\.(\w+)\}", lambda m: paths[m.group(1)], text)

    found = []
    for stage, body in stages.items():
        for kind in ("outs", "metrics", "plots"):
            for entry in body.get(kind) or []:
                path, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
                found.append((str(stage), resolve(str(path)), bool((options or {}).get("cache", True))))
    return found
