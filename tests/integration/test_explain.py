"""`python -m pipelines explain --id` in a trained copy of the project, when the workspace no longer holds the model
that made the prediction: it is found by its hash in git history and fetched from the DVC cache, or from the MLflow
registry; a hash recorded nowhere fails naming it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from deploy.payload import InputSpec
from deploy.scoring import load_bundle
from pipelines.jobs.serve import model_store
from tests.helpers.project import CONTRACT, ESTIMATORS, FEATURES, PARAMS, Repo
from tests.helpers.service import json_rows, logged_predictions

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:X does not have valid feature names")]
SPEC = InputSpec.from_schema(CONTRACT.inputs)


def _log(model_dir: Path, manifest: dict[str, Any], rows: list[list[Any]], logs: Path) -> tuple[str, str]:
    """One request scored by the model at `model_dir` as `serve` loads it (verified against `manifest`), logged to
    `logs`; (its first prediction id, the model's hash)."""
    digest = manifest["content_hash"]
    labels = {"model_version": f"sha-{digest[:12]}", "model_hash": digest, "git_commit": "c" * 40, "data_hash": "d"}
    bundle = load_bundle(model_dir, manifest, labels, SPEC, model_store())
    return logged_predictions(bundle, SPEC, rows, logs, CONTRACT)[0], digest


def test_explain_finds_the_logged_model_by_hash_in_git_and_the_dvc_cache_or_fails_naming_the_hash(
    repo_copy: Repo, project_split: Any, tmp_path: Path
) -> None:
    repo, rows = repo_copy, json_rows(project_split[1][FEATURES].head(3))
    manifest = json.loads((repo.path / "models" / "manifest.json").read_text())
    prediction_id, digest = _log(repo.path / "models" / "model", manifest, rows, tmp_path / "logs")
    shutil.rmtree(repo.path / "models" / "model")  # the workspace no longer has it; HEAD's manifest and DVC do
    found = repo.pipelines("explain", "--id", prediction_id, "--logs", str(tmp_path / "logs"))
    assert f"model {digest}" in found.stdout and "as committed at" in found.stdout and "DVC cache" in found.stdout
    assert "matches the logged output" in found.stdout
    unknown = "f" * 64  # the same entry, naming a model no commit, cache or registry has
    moved = tmp_path / "unknown"
    moved.mkdir()
    for path in (tmp_path / "logs").glob("predictions-*.jsonl"):
        (moved / path.name).write_text(path.read_text().replace(digest, unknown))
    failed = repo.pipelines("explain", "--id", prediction_id, "--logs", str(moved), check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith(f"error: model {unknown} cannot be found: no commit") and "MLFLOW" in failed.stderr


def test_explain_fetches_a_model_only_the_mlflow_registry_holds_and_checks_its_hash(
    repo_copy: Repo, project_split: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.adapters import modelio, tracking
    from pipelines.core.train import fit
    from pipelines.yours.features import build_preprocessor

    train = project_split[0]
    params = PARAMS.train.model_copy(update={"seed": PARAMS.train.seed + 1})  # another model than any committed
    model, _ = fit(train.sample(frac=0.8, random_state=1), CONTRACT, params, ESTIMATORS, build_preprocessor)
    directory = tmp_path / "candidate" / "model"
    digest = modelio.save(model, directory, train[FEATURES].head(5), signature_sample=train[FEATURES])
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry)
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts land here, not in the checkout the suite runs from
    name = PARAMS.environments.model_name
    version = tracking.register(name, directory, digest, {}, {}, PARAMS.mlflow.experiment)
    prediction_id, _ = _log(directory, modelio.manifest(directory), json_rows(project_split[1][FEATURES].head(2)),
                            tmp_path / "logs")  # fmt: skip
    repo_copy.env["MLFLOW_TRACKING_URI"] = registry
    found = repo_copy.pipelines("explain", "--id", prediction_id, "--logs", str(tmp_path / "logs"))
    assert f"MLflow registry: {name} version {version}" in found.stdout
    assert "matches the logged output" in found.stdout
