"""How old the data and the running models are, against the retrain interval `staleness` recommends
(reports/staleness.json, pipelines.jobs.staleness): `retrain --staleness` and `monitor --staleness` share it.
Registers no command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.adapters import git, releases
from pipelines.core.params import Params

if TYPE_CHECKING:
    from pipelines.adapters import sources


def stale_data(path: str | None, outcome: sources.Outcome) -> str | None:
    """Why the run must fail because the data of record (data.dvc's last commit) is older than the retrain
    interval `staleness` recommends (reports/staleness.json) and no fresh data came in; None when it is not."""
    recommended = recommended_days(path)
    age = releases.age_days(git.commit_time("HEAD", "data.dvc"))
    if recommended is None or age is None or outcome.added or age <= recommended:
        return None
    return (f"the data of record is {age:.0f} days old (data.dvc's last commit), beyond the {recommended:g}-day "
            f"retrain interval that staleness recommends ({path}), and no fresh data came in: the model is going "
            "stale; check the ingest source (ingest: in params.yaml)")  # fmt: skip


def recommended_days(path: str | None) -> float | None:
    """reports/staleness.json's recommended retrain interval in days, None when absent or not measured."""
    found = json.loads(Path(path).read_text()).get("recommended_retrain_days") if path and Path(path).exists() else None
    return float(found) if found is not None else None


def stale_releases(params: Params, recommended: float | None) -> list[str]:
    """One line per environment whose running model is older than the recommended retrain interval."""
    ages = releases.model_ages([env.name for env in params.environments.order]) if recommended is not None else {}
    return [f"{env} runs a model {age:.0f} days old, beyond the recommended retrain interval of {recommended:g} days"
            for env, age in ages.items() if recommended is not None and age > recommended]  # fmt: skip
