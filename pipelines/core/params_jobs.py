"""The params.yaml sections of the commands that are not DVC stages (tune, staleness, feature_cost) and the
feature budgets the gate applies; pipelines.core.params assembles them into the whole file's schema."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pipelines.core.metrics import known


class _Section(BaseModel):
    # as pipelines.core.params: no defaults, unknown keys refused
    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = Annotated[int, Field(gt=0)]
Metric = Annotated[str, AfterValidator(known)]
Budget = Annotated[float, Field(gt=0)] | None  # None: no budget on this cost


class TuneParams(_Section):
    """tune: the hyper-parameter search of `python -m pipelines tune` (pipelines.core.tuning): Optuna's TPE
    sampler, seeded, each trial scored by k-fold cross-validation on the training split only."""

    trials: PositiveInt  # trials at most, the committed values' included
    timeout_minutes: Annotated[float, Field(gt=0)]  # stop starting trials after this long
    folds: Annotated[int, Field(ge=2, le=20)]
    seed: int


class StalenessParams(_Section):
    """staleness: the backtest of `python -m pipelines staleness` (pipelines.core.staleness) on rows ordered by
    split.order_by: cut-offs one period apart, the windows scored after each, the retrain recommendation's cap."""

    metric: Metric  # whose decay is measured (init: the task's primary); its gate floor sets the recommendation
    period_days: Annotated[float, Field(gt=0)]
    windows: Annotated[int, Field(ge=2)]  # periods scored after each cut-off
    cutoffs: PositiveInt
    min_rows: Annotated[int, Field(ge=10)]  # a window (or the rows before a cut-off) with fewer is not scored
    max_retrain_days: Annotated[float, Field(gt=0)]  # the recommendation when no decay towards the floor shows


class FeatureCostParams(_Section):
    """feature_cost: how `python -m pipelines feature-cost` measures what each model input costs
    (pipelines.core.feature_cost): the model refit without it on `rows` training rows, both timed."""

    rows: PositiveInt  # training rows each refit uses at most (a seeded sample)
    rounds: Annotated[int, Field(ge=3)]  # interleaved timing rounds; the median is reported
    calls: PositiveInt  # one-row scorings per round, per model
    seed: int


class FeatureBudgets(_Section):
    """gate.feature_budgets: what one model input may add, each None for no budget."""

    latency_us: Budget  # microseconds added to scoring one row (the service's compiled path)
    train_seconds: Budget  # seconds added to fitting on feature_cost.rows rows
    train_mib: Budget  # MiB added to the fit's peak memory (tracemalloc)
