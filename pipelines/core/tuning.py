"""Tuning: the hyper-parameter search of `python -m pipelines tune`, "model hyper-parameters have been tuned"
(Breck et al. 2017, The ML Test Score, model test 3).

The search: Optuna's TPE sampler (Bergstra et al. 2011, "Algorithms for Hyper-Parameter Optimization"), seeded
(`tune.seed`), over the `space` the estimator's entry declares in pipelines/yours/estimators.py (options it does
not name keep their params.yaml values). Trial 0 is the committed values. Each trial is scored by k-fold
cross-validation (`tune.folds`, shuffled with the same seed, stratified for a label) on the training split
only: the holdout judges the result later, on the pull request, and never chooses it. The score is the task's
primary metric (pipelines.core.tasks; scikit-learn's scorer of the same name). A budget of trials and minutes
(`tune.trials`, `tune.timeout_minutes`) bounds it.

The decision (`decide`): the best values are proposed only when their mean fold score beats the committed
values' by more than the spread of the committed values' fold scores (their standard deviation, ddof=1), so a
difference the folds' noise explains, or the best-of-many selection alone, does not churn params.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipelines.core.estimators import Choice, Dimension, FloatRange, IntRange


def suggest(trial: Any, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """One value per option of `space`, drawn by an Optuna `trial` (its suggest_* calls)."""
    values: dict[str, Any] = {}
    for name, dimension in space.items():
        if isinstance(dimension, FloatRange):
            values[name] = trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log)
        elif isinstance(dimension, IntRange):
            values[name] = trial.suggest_int(name, dimension.low, dimension.high, log=dimension.log)
        elif isinstance(dimension, Choice):
            values[name] = trial.suggest_categorical(name, list(dimension.options))
        else:  # pragma: no cover - the Dimension union is closed
            raise TypeError(f"{name}: not a search range: {dimension!r}")
    return values


def rounded(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as params.yaml gets them: floats at 3 significant digits (finer is noise at this sample size)."""
    return {k: float(f"{v:.3g}") if isinstance(v, float) else v for k, v in values.items()}


@dataclass(frozen=True)
class Trial:
    """One scored trial: its number (0: the committed values), values, and fold scores."""

    number: int
    values: dict[str, Any]
    scores: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def spread(self) -> float:
        """The standard deviation of the fold scores (ddof=1)."""
        return float(np.std(self.scores, ddof=1)) if len(self.scores) > 1 else 0.0


@dataclass(frozen=True)
class Decision:
    """Whether to propose the best trial's values: `improvement` (best - committed mean fold score) against
    `spread` (the committed values' fold standard deviation), and why, in one line."""

    metric: str
    committed: Trial
    best: Trial
    improvement: float
    spread: float
    adopt: bool
    reason: str


def decide(metric: str, trials: list[Trial]) -> Decision:
    """The decision over `trials` (trials[0]: the committed values); ValueError without any scored trial."""
    scored = [t for t in trials if t.scores and all(math.isfinite(s) for s in t.scores)]
    if not scored or trials[0] not in scored:
        raise ValueError("the committed values could not be scored by cross-validation; nothing to compare with")
    committed, best = trials[0], max(scored, key=lambda t: t.mean)
    improvement, spread = best.mean - committed.mean, committed.spread
    adopt = best.number != 0 and improvement > spread
    if len(scored) == 1:
        reason = ("only the committed values were scored (tune.trials, tune.timeout_minutes, or every other trial "
                  "refused): nothing to compare them with, nothing to propose")  # fmt: skip
    elif adopt:
        reason = (f"trial {best.number} beats the committed values by {improvement:+.4f} {metric}, more than the "
                  f"committed values' fold spread {spread:.4f}")  # fmt: skip
    else:
        reason = (f"the committed values are within the fold spread of the best found ({improvement:+.4f} {metric} "
                  f"against a spread of {spread:.4f}): nothing to propose")  # fmt: skip
    return Decision(metric, committed, best, improvement, spread, adopt, reason)


def search(
    objective: Callable[[dict[str, Any]], list[float]],
    space: Mapping[str, Dimension],
    committed: Mapping[str, Any],
    trials: int,
    timeout_seconds: float,
    seed: int,
    progress: Callable[[Trial, Trial], None] | None = None,
) -> list[Trial]:
    """Run the seeded TPE search: trial 0 the `committed` values of `space`'s options, then up to `trials` - 1
    drawn ones, each scored by `objective` (values -> fold scores, higher is better), until `timeout_seconds`;
    `progress(trial, best so far)` after each. A trial whose objective raises ValueError (values the estimator
    refuses) is pruned, not fatal."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: committed[k] for k in space if k in committed}, skip_if_exists=False)
    done: list[Trial] = []

    def run(trial: Any) -> float:
        values = suggest(trial, space)
        try:
            scores = [float(s) for s in objective(values)]
        except ValueError:
            raise optuna.TrialPruned() from None
        done.append(Trial(trial.number, values, scores))
        best = max(done, key=lambda t: t.mean)
        if progress is not None:
            progress(done[-1], best)
        return float(np.mean(scores))

    study.optimize(run, n_trials=trials, timeout=timeout_seconds, catch=())
    return done


def document(decision: Decision, trials: list[Trial], estimator: str, folds: int, seed: int) -> dict[str, Any]:
    """reports/tuning.json: the decision, and every trial's values and fold scores."""
    summary = asdict(decision)
    summary["committed"], summary["best"] = decision.committed.number, decision.best.number
    return {"estimator": estimator, "folds": folds, "seed": seed, **summary,
            "proposed": rounded(decision.best.values) if decision.adopt else None,
            "trials": [{"number": t.number, "values": t.values, "mean": round(t.mean, 6), "spread": round(t.spread, 6),
                        "scores": [round(s, 6) for s in t.scores]} for t in trials]}  # fmt: skip


def markdown(doc: Mapping[str, Any]) -> str:
    """The tuning report (the pull request's body and the job summary): the decision, committed against best."""
    metric, trials = doc["metric"], {t["number"]: t for t in doc["trials"]}
    committed, best = trials[doc["committed"]], trials[doc["best"]]
    names = sorted(set(committed["values"]) | set(best["values"]))
    rows = "\n".join(f"| `{n}` | {committed['values'].get(n)} | {best['values'].get(n)} |" for n in names)
    return (f"### Tuning `{doc['estimator']}`\n\n{doc['reason'][0].upper()}{doc['reason'][1:]}.\n\n"
            f"| | committed | best (trial {best['number']}) |\n|---|---|---|\n{rows}\n"
            f"| {metric}, mean of {doc['folds']} folds | {committed['mean']:.4f} ± {committed['spread']:.4f} | "
            f"{best['mean']:.4f} ± {best['spread']:.4f} |\n\n"
            f"<sub>{len(doc['trials'])} trials of Optuna's TPE sampler (seed {doc['seed']}), each scored by "
            f"{doc['folds']}-fold cross-validation on the training split only; ± the standard deviation over the "
            f"folds.</sub>\n")  # fmt: skip
