"""MLflow tracking: one run per pipeline run, with params, metrics, the model and provenance tags.

The tracking store is MLflow's own default (a sqlite file, mlflow.db, in the working directory)
unless MLFLOW_TRACKING_URI points elsewhere: switching to a server is configuration, not code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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


def log_run(
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts: Mapping[str, str | os.PathLike[str]],
    run_name: str | None = None,
) -> str:
    """Log one finished pipeline run; `artifacts` maps an artifact path to a local directory."""
    import mlflow

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(flatten(params))
        mlflow.log_metrics(dict(metrics))
        mlflow.set_tags(dict(tags))
        for artifact_path, local in artifacts.items():
            if Path(local).exists():
                mlflow.log_artifacts(str(local), artifact_path=artifact_path)
        return str(run.info.run_id)
