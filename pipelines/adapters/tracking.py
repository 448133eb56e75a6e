"""MLflow: one run per pipeline run, and the model registry kept in step with git.

The tracking store is MLflow's own default (a sqlite file, mlflow.db, in the working directory)
unless MLFLOW_TRACKING_URI points elsewhere: switching to a server is configuration, not code.
Git decides what runs where; the registry mirrors it: each model (by content hash) is registered
once as a version tagged with its hash, commit, data hash and metrics, and the alias `<env>` points
at the version an environment runs, so `models:/<name>@<env>` resolves to the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.core.params import flatten

PENDING = Path("logs/tracking/pending")  # runs waiting to be logged (ignored by git, like every log)


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


def queue_run(
    *,
    experiment: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
    artifacts: Mapping[str, str | os.PathLike[str]],
    pending: Path = PENDING,
) -> Path:
    """Write a run to the spool (`pending`/<time>-<id>/: run.json and a copy of each artifact directory, so a
    later re-run cannot change what is logged); its directory. `flush` logs it."""
    entry = pending / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staging = entry.with_name(entry.name + ".partial")
    for artifact_path, local in artifacts.items():
        if Path(local).exists():
            shutil.copytree(local, staging / "artifacts" / artifact_path)
    staging.mkdir(parents=True, exist_ok=True)
    record = {"experiment": experiment, "params": flatten(params), "metrics": dict(metrics), "tags": dict(tags)}
    (staging / "run.json").write_text(json.dumps(record, sort_keys=True))
    os.replace(staging, entry)  # complete or absent: a flush never sees half a run
    return entry


def flush(pending: Path = PENDING) -> tuple[int, list[str]]:
    """Log every spooled run, oldest first, removing each once MLflow has it; (runs logged, one line per run
    that could not be, left in the spool). One flush at a time: a second waits for the first (a file lock)."""
    import fcntl

    if not pending.is_dir():
        return 0, []
    logged, failures = 0, []
    with (pending / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for entry in sorted(p for p in pending.iterdir() if p.is_dir() and not p.name.endswith(".partial")):
            try:
                record = json.loads((entry / "run.json").read_text())
                artifacts = {p.name: p for p in sorted((entry / "artifacts").glob("*"))}
                log_run(**record, artifacts=artifacts)
            except Exception as exc:  # unreachable server, bad credentials, a full disk: keep it for later
                first = (str(exc).splitlines() or [""])[0][:200]
                failures.append(f"{entry.name}: {type(exc).__name__}: {first}")
                continue
            shutil.rmtree(entry)
            logged += 1
    return logged, failures


def flush_in_background(pending: Path = PENDING) -> None:
    """Start `python -m pipelines track` detached (its own session: it outlives the stage that queued the run),
    writing what it says to `pending`/flush.log."""
    pending.mkdir(parents=True, exist_ok=True)
    with (pending / "flush.log").open("ab") as log:
        subprocess.Popen(  # our own interpreter and module
            [sys.executable, "-m", "pipelines", "track", "--pending", str(pending)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip


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


def download_version(name: str, model_hash: str, dest: Path) -> str | None:
    """Download the files of the registry version of `name` tagged with `model_hash` into `dest` (the model
    directory); its version, or None when there is none."""
    import tempfile

    import mlflow.artifacts

    version = find_version(name, model_hash)
    if version is None:
        return None
    # the files as they were logged (a models:/ URI would add MLflow's registered_model_meta, changing the hash)
    source = _client().get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory(prefix="registry-") as tmp:
        root = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))
        found = next((p.parent for p in sorted(root.rglob("MLmodel"))), root)
        shutil.copytree(found, dest)
    return version


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


def log_search(experiment: str, doc: Mapping[str, Any], document: Path) -> None:
    """A hyper-parameter search (reports/tuning.json, pipelines.core.tuning) as one run `tune <estimator>`: its
    decision as tags and metrics, the document as an artifact, and a nested run per trial (its values, and the
    mean and spread of its fold scores)."""
    import mlflow

    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"tune {doc['estimator']}"):
        mlflow.set_tags({"kind": "tune", "estimator": doc["estimator"], "adopted": str(doc["adopt"]).lower()})
        mlflow.log_metrics({"improvement": doc["improvement"], "spread": doc["spread"]})
        mlflow.log_artifact(str(document))
        for trial in doc["trials"]:
            with mlflow.start_run(run_name=f"trial {trial['number']}", nested=True):
                mlflow.log_params({k: str(v) for k, v in trial["values"].items()})
                mlflow.log_metrics({"cv_mean": trial["mean"], "cv_spread": trial["spread"]})
