"""MLflow: one run per pipeline run, and the model registry kept in step with git.

The tracking store is MLflow's own default (a sqlite file, mlflow.db, in the working directory)
unless MLFLOW_TRACKING_URI points elsewhere: switching to a server is configuration, not code.
Git decides what runs where; the registry mirrors it: each model (by content hash) is registered
once as a version tagged with its hash, commit, data hash and metrics, and the alias `<env>` points
at the version an environment runs, so `models:/<name>@<env>` resolves to the same bytes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.core.params import flatten


def log_run(
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts: Mapping[str, str | os.PathLike[str]],
    run_name: str | None = None,
) -> str:
    """Log one finished pipeline run; `artifacts` maps an artifact path to a local directory. Returns the run id."""
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


def registry_configured() -> bool:
    """Registry sync runs only when MLFLOW_TRACKING_URI points somewhere (a server, typically)."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def find_version(name: str, model_hash: str) -> str | None:
    """The registry version of `name` tagged with `model_hash`, or None (also when `name` does not exist)."""
    client = _client()
    try:
        found = client.search_model_versions(f"name = '{name}' and tags.model_hash = '{model_hash}'")
    except Exception:  # the registered model does not exist yet
        return None
    return str(found[0].version) if found else None


def register(
    name: str, model_dir: Path, model_hash: str, tags: Mapping[str, str], metrics: Mapping[str, float], experiment: str
) -> str:
    """The registry version of this model, registering it (once) if needed."""
    import mlflow
    from mlflow.exceptions import MlflowException

    existing = find_version(name, model_hash)
    if existing:
        return existing
    client = _client()
    with contextlib.suppress(MlflowException):  # it already exists
        client.create_registered_model(name)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"candidate-{model_hash[:12]}") as run:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        mlflow.log_metrics(dict(metrics))
        mlflow.set_tags({**tags, "model_hash": model_hash})
        source = f"{run.info.artifact_uri}/model"
    all_tags = {**tags, "model_hash": model_hash, **{f"metric.{k}": f"{v:.6g}" for k, v in metrics.items()}}
    version = client.create_model_version(name, source=source, run_id=run.info.run_id, tags=all_tags)
    return str(version.version)


def set_alias(name: str, alias: str, version: str) -> None:
    """Point `models:/<name>@<alias>` at `version`."""
    _client().set_registered_model_alias(name, alias, version)
