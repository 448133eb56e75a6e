"""Champion vs candidate: score both models on the same holdout, gate the candidate, record the verdict,
and check a recorded verdict on a pull request (the pull request itself is pipelines.adapters.github)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.gate import Verdict, check
from pipelines.core.intervals import paired as paired_difference
from pipelines.core.metrics import model_output, score
from pipelines.core.params import EnvironmentParams, EvaluateParams, FeatureBudgets, GateParams


@dataclass(frozen=True)
class Comparison:
    """Both models' metrics on the same holdout and the candidate's verdict."""

    candidate: dict[str, float]
    champion: dict[str, float] | None
    champion_source: str  # how the champion's metrics were obtained
    verdict: Verdict
    paired: dict[str, dict[str, float]] | None = None  # candidate - champion on the same resamples of the holdout


def judge_candidate(
    candidate: Any,
    champion: Any | None,
    holdout: pd.DataFrame,
    evaluate_params: EvaluateParams,
    gate: GateParams,
    env: EnvironmentParams,
    contract: Contract,
    champion_committed: Mapping[str, float] | None = None,
) -> Comparison:
    """Score both models on the same holdout; gate the candidate on the floors and on the
    environment's tolerance against the champion (the model the environment runs now).

    Only the metrics matter here: each model is scored as `evaluate` scores it (pipelines.core.metrics.score),
    without the plots, intervals and permutation importance `evaluate` also computes.
    """
    x, y = holdout[contract.features], holdout[contract.target].to_numpy()

    def metrics(model: Any) -> dict[str, float]:
        classes = None if contract.task == "regression" else np.asarray(model.classes_)
        output = model_output(model, x, contract.task)
        return score(y, output, task=contract.task, classes=classes, threshold=evaluate_params.threshold)

    candidate_metrics = metrics(candidate)
    paired = None
    if champion is not None:
        champion_metrics: dict[str, float] | None = metrics(champion)
        source = "evaluated on the same holdout"
        classes = None if contract.task == "regression" else getattr(candidate, "classes_", None)
        if classes is None or list(classes) == list(getattr(champion, "classes_", [])):
            paired = paired_difference(
                contract.task, y, model_output(candidate, x, contract.task), model_output(champion, x, contract.task),
                classes, evaluate_params.threshold, evaluate_params.intervals,
            )  # fmt: skip
    elif champion_committed:
        champion_metrics, source = dict(champion_committed), "its committed metrics (model files not available here)"
    else:
        champion_metrics, source = None, "none: the environment has no model yet"
    rules = GateParams(
        floors=gate.floors,
        max_regression=env.max_regression or gate.max_regression,
        regression_rule=gate.regression_rule,
        baseline_rule="off",  # judged on the pull request; a promotion compares the candidate with the champion
        slice_floors={},  # likewise (reports/slices.json, gate.slice_floors)
        slice_rule="off",
        max_group_gap={},
        feature_rule="off",  # likewise (reports/features.json, gate.feature_rule and gate.feature_budgets)
        feature_budgets=FeatureBudgets(latency_us=None, train_seconds=None, train_mib=None),
    )
    verdict = check(candidate_metrics, champion_metrics, rules, paired, evaluate_params.intervals.level)
    return Comparison(candidate_metrics, champion_metrics, source, verdict, paired)


def verdict_document(env: str, candidate_hash: str, champion_hash: str | None, result: Comparison) -> dict[str, Any]:
    """The promotion gate's verdict as committed on promote/<env> (`models/promotion.json`)."""
    return {
        "environment": env,
        "candidate": {"model_hash": candidate_hash, "metrics": result.candidate},
        "champion": {"model_hash": champion_hash, "metrics": result.champion, "source": result.champion_source},
        "paired": result.paired,
        "passed": result.verdict.passed,
        "failures": [rule.reason for rule in result.verdict.failures],
    }


def _named(model_hash: Any) -> str:
    return str(model_hash)[:12] if model_hash else "no model"


def release_problems(model_hash: str, release: Any) -> list[str]:
    """What is wrong with a release record for the model `model_hash` names (empty: it is complete)."""
    if not model_hash:
        return ["the branch has no model manifest"]
    if not isinstance(release, Mapping):
        return [
            "no release record (models/release.json, an object): promotion pull requests come from "
            "promote/<env>, which the main and deploy workflows write (record, build-image)"
        ]
    if release.get("model_hash") != model_hash:
        return [f"the release record names model {_named(release.get('model_hash'))}, the manifest {model_hash[:12]}"]
    image = str(release.get("image", ""))
    if "@sha256:" not in image:
        return [f"the release record's image {image!r} is not named by digest"]
    return []


def verdict_problems(env: str, model_hash: str, verdict: Any) -> list[str]:
    """What makes a recorded verdict not a verdict on `model_hash` for `env` (pass or fail aside)."""
    if not isinstance(verdict, Mapping):
        return [f"no promotion verdict (models/promotion.json, an object) for model {model_hash[:12]}"]
    problems = []
    if verdict.get("environment") != env:
        problems.append(f"the verdict is for {verdict.get('environment')!r}, not {env!r}")
    candidate = verdict.get("candidate")
    if not isinstance(candidate, Mapping) or candidate.get("model_hash") != model_hash:
        problems.append(f"the verdict scored another model, not {model_hash[:12]}")
    if not isinstance(verdict.get("champion"), Mapping) or not isinstance(verdict.get("failures", []), list):
        problems.append("the verdict has no champion or failure list: it was not written by promotion-gate --record")
    return problems


def check_recorded(
    env: str,
    model_hash: str,
    release: Any,
    verdict: Any,
    earlier: list[tuple[int, str, str]],
) -> tuple[list[str], str]:
    """Judge a pull request into `env` from what it records; (problems, what was accepted).

    `model_hash` is the manifest's, `release` and `verdict` the branch's release record and promotion
    verdict (parsed JSON), `earlier` the environment's releases so far as (version, model hash, image),
    oldest first. A pull request passes when its release names its model and an image by digest, and
    either its verdict is a passing one (passed, and no failures) for this model against the model the
    environment runs now, or it returns to a release the environment ran before (a rollback: that
    model and image were promoted once already). The verdict itself comes from `promotion-gate
    --record`, run where the DVC remote is readable (main and deploy workflows), since a pull-request
    job has no secrets.
    """
    problems = release_problems(model_hash, release)
    if problems:
        return problems, ""
    image = str(release["image"])
    now = earlier[-1] if earlier else None
    for version, digest, earlier_image in earlier[:-1]:
        if digest == model_hash and earlier_image == image and (now is None or now[1] != model_hash):
            return [], f"returns {env} to v{version} ({model_hash[:12]}), which it ran before"
    problems = verdict_problems(env, model_hash, verdict)
    if problems:
        return problems, ""
    champion = verdict["champion"].get("model_hash")
    running = now[1] if now else None
    if champion != running:
        problems.append(
            f"the verdict compared with {_named(champion)}, but {env} now runs {_named(running)}: re-run the "
            "workflow that opened this pull request to score it against the current model"
        )
    failures = [str(reason) for reason in verdict.get("failures") or []]
    if verdict.get("passed") is not True or failures:
        problems += [f"promotion gate: {reason}" for reason in failures or ["failed"]]
    accepted = f"model {model_hash[:12]} in {image} passed the promotion gate against {_named(running)}"
    return problems, accepted
