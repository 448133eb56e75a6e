"""Champion/challenger: score both models on the same holdout, gate the candidate, record the verdict,
and check a recorded verdict on a pull request (the pull request itself is pipelines.adapters.github)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.evaluate import evaluate
from pipelines.core.gate import Verdict, check
from pipelines.core.params import EnvironmentParams, EvaluateParams, GateParams


@dataclass(frozen=True)
class Comparison:
    """Both models' metrics on the same holdout and the candidate's verdict."""

    candidate: dict[str, float]
    champion: dict[str, float] | None
    champion_source: str  # how the champion's metrics were obtained
    verdict: Verdict


def compare(
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

    Only the metrics matter here, so permutation importance runs once on at most 200 rows.
    """
    cheap = evaluate_params.model_copy(update={"permutation_repeats": 1, "permutation_max_samples": 200})
    challenger = evaluate(candidate, holdout, cheap, contract).metrics
    if champion is not None:
        champion_metrics: dict[str, float] | None = evaluate(champion, holdout, cheap, contract).metrics
        source = "evaluated on the same holdout"
    elif champion_committed:
        champion_metrics, source = dict(champion_committed), "its committed metrics (model files not available here)"
    else:
        champion_metrics, source = None, "none: the environment has no model yet"
    rules = GateParams(floors=gate.floors, max_regression=env.max_regression or gate.max_regression)
    return Comparison(challenger, champion_metrics, source, check(challenger, champion_metrics, rules))


def verdict_record(env: str, candidate_hash: str, champion_hash: str | None, result: Comparison) -> dict[str, Any]:
    """The promotion gate's verdict as committed on promote/<env> (`models/promotion.json`)."""
    return {
        "environment": env,
        "candidate": {"model_hash": candidate_hash, "metrics": result.candidate},
        "champion": {"model_hash": champion_hash, "metrics": result.champion, "source": result.champion_source},
        "passed": result.verdict.passed,
        "failures": [rule.reason for rule in result.verdict.failures],
    }


def check_recorded(
    env: str,
    model_hash: str,
    release: Mapping[str, Any] | None,
    verdict: Mapping[str, Any] | None,
    earlier: list[tuple[int, str, str]],
) -> tuple[list[str], str]:
    """Judge a pull request into `env` from what it records; (problems, what was accepted).

    `model_hash` is the manifest's, `release` and `verdict` the branch's release record and promotion
    verdict, `earlier` the environment's releases so far as (version, model hash, image), oldest
    first. A pull request passes when its release names its model and an image by digest, and either
    its verdict is a passing one for this model against the model the environment runs now, or it
    returns to a release the environment ran before (a rollback: that model and image were promoted
    once already). The verdict itself comes from `promotion-gate --record`, run where the DVC remote
    is readable (main and deploy workflows), since a pull-request job has no secrets.
    """
    if not model_hash:
        return ["the branch has no model manifest"], ""
    if release is None:
        return [
            f"no release record: promotion pull requests come from promote/{env}, which the main and "
            "deploy workflows write (record, build-image, promotion-gate --record)"
        ], ""
    if release.get("model_hash") != model_hash:
        return [
            f"the release record names model {str(release.get('model_hash'))[:12]}, the manifest {model_hash[:12]}"
        ], ""
    image = str(release.get("image", ""))
    if "@sha256:" not in image:
        return [f"the release record's image {image!r} is not named by digest"], ""
    now = earlier[-1] if earlier else None
    for version, digest, earlier_image in earlier[:-1] if earlier else []:
        if digest == model_hash and earlier_image == image and (now is None or now[1] != model_hash):
            return [], f"returns {env} to v{version} ({model_hash[:12]}), which it ran before"
    problems = []
    if verdict is None:
        return [f"no promotion verdict (models/promotion.json) for model {model_hash[:12]}"], ""
    if verdict.get("environment") != env:
        problems.append(f"the verdict is for {verdict.get('environment')!r}, not {env!r}")
    if (verdict.get("candidate") or {}).get("model_hash") != model_hash:
        problems.append(f"the verdict scored another model, not {model_hash[:12]}")
    champion = (verdict.get("champion") or {}).get("model_hash")
    running = now[1] if now else None
    if champion != running:
        problems.append(
            f"the verdict compared with {str(champion)[:12]}, but {env} now runs {str(running)[:12]}: re-run the "
            "workflow that opened this pull request to score it against the current model"
        )
    if not verdict.get("passed"):
        problems += [f"promotion gate: {reason}" for reason in verdict.get("failures") or ["failed"]]
    accepted = f"model {model_hash[:12]} in {image} passed the promotion gate against " + (
        f"{running[:12]}" if running else "no model (the first release)"
    )
    return problems, accepted
