"""The estimators this project can train: one entry each. Yours to edit.

`params.yaml`'s `train.estimator` names one of the keys of ESTIMATORS, and `train.<name>` holds its
hyper-parameters, validated by the entry's params model (unknown or mistyped keys fail at load time).
To add an estimator, add an entry here (and its section to params.yaml): nothing else changes.

An entry (pipelines.core.estimators.Estimator) says:
- `params`: a pydantic model of its section of params.yaml;
- `build(options, task, seed)`: an unfitted scikit-learn estimator for the task;
- `tasks`: the tasks it can learn ("binary", "multiclass", "regression");
- `trusted_types`: the types beyond skops' defaults its saved model holds. The model loader trusts
  only these (loading a type runs its constructor: review any addition). If saving fails with
  "the model needs types outside ...", those are the names to review and list here;
- `fast_path` (optional): compiles the fitted estimator for the service (pipelines.core.fastpath);
- `space` (optional): the ranges `python -m pipelines tune` searches, per option (FloatRange, IntRange,
  Choice; log=True for a scale parameter). Options it does not name keep their params.yaml values.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.core.estimators import Choice, Estimator, FloatRange, IntRange
from pipelines.core.fastpath import linear_classifier, linear_regressor
from pipelines.core.params import ParamsError

PositiveInt = Annotated[int, Field(gt=0)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogisticRegressionParams(_Options):
    """train.logistic_regression: scikit-learn's LogisticRegression."""

    C: Annotated[float, Field(gt=0.0)]  # inverse regularisation strength
    max_iter: PositiveInt
    class_weight: Literal["balanced"] | None = None


class RidgeParams(_Options):
    """train.ridge: scikit-learn's Ridge (least squares with an L2 penalty)."""

    alpha: Annotated[float, Field(ge=0.0)]


class RandomForestParams(_Options):
    """train.random_forest: scikit-learn's RandomForestClassifier or RandomForestRegressor."""

    n_estimators: PositiveInt
    max_depth: PositiveInt | None = None
    min_samples_leaf: PositiveInt
    class_weight: Literal["balanced", "balanced_subsample"] | None = None


class HistGradientBoostingParams(_Options):
    """train.hist_gradient_boosting: scikit-learn's HistGradientBoostingClassifier or Regressor."""

    learning_rate: Annotated[float, Field(gt=0.0)]
    max_iter: PositiveInt
    max_leaf_nodes: Annotated[int, Field(ge=2)]
    l2_regularization: Annotated[float, Field(ge=0.0)]
    class_weight: Literal["balanced"] | None = None


def _set(options: BaseModel) -> dict[str, Any]:
    """The options that are set (None falls back to scikit-learn's default, None for every one of them)."""
    return {k: v for k, v in options.model_dump().items() if v is not None}


def _for_task(options: BaseModel, task: str, name: str) -> dict[str, Any]:
    """`_set(options)` for `task`: ParamsError for class weights on a regression task (a regressor has no
    classes to weigh)."""
    hyper = _set(options)
    if task == "regression" and "class_weight" in hyper:
        raise ParamsError(f"train.{name}.class_weight applies to classifiers only; the task is regression")
    return hyper


def _logistic_regression(options: BaseModel, task: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed, **_set(options))


def _ridge(options: BaseModel, task: str, seed: int) -> Any:
    from sklearn.linear_model import Ridge

    return Ridge(random_state=seed, **_set(options))


def _random_forest(options: BaseModel, task: str, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    hyper = _for_task(options, task, "random_forest")
    forest = RandomForestRegressor if task == "regression" else RandomForestClassifier
    # n_jobs=1: DVC stages and the CI runner have two cores; parallelism is not worth the noise
    return forest(random_state=seed, n_jobs=1, **hyper)


def _hist_gradient_boosting(options: BaseModel, task: str, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    boosting = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return boosting(random_state=seed, **_for_task(options, task, "hist_gradient_boosting"))


ESTIMATORS: dict[str, Estimator] = {
    "logistic_regression": Estimator(
        params=LogisticRegressionParams,
        build=_logistic_regression,
        tasks=frozenset({"binary", "multiclass"}),
        fast_path=linear_classifier,
        space={"C": FloatRange(1e-3, 1e2, log=True)},
    ),
    "ridge": Estimator(
        params=RidgeParams,
        build=_ridge,
        tasks=frozenset({"regression"}),
        fast_path=linear_regressor,
        space={"alpha": FloatRange(1e-3, 1e3, log=True)},
    ),
    "random_forest": Estimator(
        params=RandomForestParams,
        build=_random_forest,
        tasks=frozenset({"binary", "multiclass", "regression"}),
        trusted_types=("sklearn.tree._tree.Tree",),
        space={
            "n_estimators": IntRange(50, 400, log=True),
            "max_depth": Choice((None, 4, 8, 16)),
            "min_samples_leaf": IntRange(1, 20, log=True),
        },
    ),
    "hist_gradient_boosting": Estimator(
        params=HistGradientBoostingParams,
        build=_hist_gradient_boosting,
        tasks=frozenset({"binary", "multiclass", "regression"}),
        trusted_types=("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",),
        space={
            "learning_rate": FloatRange(0.01, 0.3, log=True),
            "max_iter": IntRange(50, 400, log=True),
            "max_leaf_nodes": IntRange(4, 63, log=True),
            "l2_regularization": FloatRange(1e-6, 10.0, log=True),
        },
    ),
}
