"""params.yaml, validated: the one place for knobs and thresholds.

Every section is a pydantic model that forbids unknown keys, so a typo such as `lerning_rate`
fails at load time with the key named, instead of being silently ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.errors import PipelineError

DEFAULT_PARAMS = Path("params.yaml")


class ParamsError(PipelineError, ValueError):
    """params.yaml is missing, unreadable, or breaks its schema."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Metric = Literal["roc_auc", "average_precision", "f1", "precision", "recall", "accuracy", "log_loss"]
"""Every metric `evaluate` reports, and so every metric a gate rule can name."""
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = frozenset({"log_loss"})

Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]


class SplitParams(_Section):
    test_size: Fraction = 0.2
    seed: int = 42
    stratify: bool = True


class LogisticRegressionParams(_Section):
    C: Annotated[float, Field(gt=0.0)] = 1.0
    max_iter: PositiveInt = 1000
    class_weight: Literal["balanced"] | None = None


class RandomForestParams(_Section):
    n_estimators: PositiveInt = 200
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt = 1
    class_weight: Literal["balanced", "balanced_subsample"] | None = None


class HistGradientBoostingParams(_Section):
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.1
    max_iter: PositiveInt = 200
    max_leaf_nodes: Annotated[int, Field(ge=2)] = 31
    l2_regularization: Annotated[float, Field(ge=0.0)] = 0.0


class TrainParams(_Section):
    estimator: Literal["logistic_regression", "random_forest", "hist_gradient_boosting"]
    seed: int = 42
    reference_bins: Annotated[int, Field(ge=2, le=100)] = 10
    logistic_regression: LogisticRegressionParams = LogisticRegressionParams()
    random_forest: RandomForestParams = RandomForestParams()
    hist_gradient_boosting: HistGradientBoostingParams = HistGradientBoostingParams()

    def estimator_params(self) -> BaseModel:
        """The hyper-parameters of the chosen estimator."""
        section: BaseModel = getattr(self, self.estimator)
        return section


class EvaluateParams(_Section):
    threshold: Fraction = 0.5
    permutation_repeats: PositiveInt = 5
    permutation_max_samples: PositiveInt = 5000
    calibration_bins: Annotated[int, Field(ge=2)] = 10
    curve_points: Annotated[int, Field(ge=10)] = 200
    seed: int = 42


class MlflowParams(_Section):
    experiment: str = Field(min_length=1)


class GateParams(_Section):
    """Merge rules: absolute floors (ceilings for lower-is-better metrics) and allowed regression."""

    floors: dict[Metric, float] = Field(default_factory=dict)
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)


class CiParams(_Section):
    """Which changed files make a pull request re-run the pipeline (fnmatch globs)."""

    pipeline_paths: list[str] = Field(min_length=1)


class ServeLogParams(_Section):
    directory: str = "logs/predictions"
    sample_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    max_rows_per_request: PositiveInt = 100
    max_file_bytes: PositiveInt = 10 * 2**20
    max_total_bytes: PositiveInt = 100 * 2**20
    queue_size: PositiveInt = 10_000


class ServeParams(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_body_bytes: PositiveInt = 2**20
    request_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0
    inline_max_rows: PositiveInt = 256
    graceful_shutdown_seconds: Annotated[float, Field(ge=0)] = 20.0
    log: ServeLogParams = ServeLogParams()


class EnvironmentParams(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    promote_from: str = Field(min_length=1)
    rollback: Literal["commit", "pull_request"] = "commit"
    max_regression: dict[Metric, Annotated[float, Field(ge=0.0)]] | None = None


class EnvironmentsParams(_Section):
    model_name: str = Field(min_length=1)
    stages: list[EnvironmentParams] = Field(min_length=1)

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
    window_hours: Annotated[float, Field(gt=0)] = 168.0
    max_rows: PositiveInt = 1_000_000
    min_rows: PositiveInt = 200
    psi_threshold: Annotated[float, Field(gt=0)] = 0.2
    ks_alpha: Fraction = 0.01
    ks_min_statistic: Fraction = 0.1
    missing_rate_change: Fraction = 0.05


class IngestParams(_Section):
    source: str | None = None
    sql_url_env: str | None = None
    sql_query: str | None = None
    quarantine: str = "quarantine"


class Params(_Section):
    split: SplitParams
    train: TrainParams
    evaluate: EvaluateParams
    mlflow: MlflowParams
    gate: GateParams
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
