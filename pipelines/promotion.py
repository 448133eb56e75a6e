"""Champion/challenger evaluation for a promotion, and the one promotion pull request per environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipelines.config import EnvironmentParams, EvaluateParams, GateParams
from pipelines.evaluate import evaluate
from pipelines.gate import Verdict, check
from pipelines.github import GitHub


@dataclass(frozen=True)
class Comparison:
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
    champion_committed: Mapping[str, float] | None = None,
) -> Comparison:
    """Score both models on the same holdout; gate the candidate on the floors and on the
    environment's tolerance against the champion (the model the environment runs now)."""
    cheap = evaluate_params.model_copy(update={"permutation_repeats": 1, "permutation_max_samples": 200})
    challenger = evaluate(candidate, holdout, cheap).metrics
    if champion is not None:
        champion_metrics: dict[str, float] | None = evaluate(champion, holdout, cheap).metrics
        source = "evaluated on the same holdout"
    elif champion_committed:
        champion_metrics, source = dict(champion_committed), "its committed metrics (model files not available here)"
    else:
        champion_metrics, source = None, "none: the environment has no model yet"
    rules = GateParams(floors=gate.floors, max_regression=env.max_regression or gate.max_regression)
    return Comparison(challenger, champion_metrics, source, check(challenger, champion_metrics, rules))


def upsert_pull_request(github: GitHub, repo: str, head: str, base: str, title: str, body: str) -> tuple[int, bool]:
    """Create the promotion pull request head -> base, or update the open one; (number, created)."""
    owner = repo.split("/")[0]
    open_prs = github.get(f"repos/{repo}/pulls?state=open&head={owner}:{head}&base={base}")
    if open_prs:
        number = int(open_prs[0]["number"])
        github.patch(f"repos/{repo}/pulls/{number}", {"title": title, "body": body})
        return number, False
    created = github.post(f"repos/{repo}/pulls", {"title": title, "body": body, "head": head, "base": base})
    return int(created["number"]), True
