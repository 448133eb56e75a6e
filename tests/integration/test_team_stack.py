"""Two team members on the team stack, for real on 127.0.0.1: MLflow's runs and registry in PostgreSQL, its
artifacts and the DVC remote in one S3 bucket (moto's server standing in for MinIO), `mlflow server` in
front. Both members clone one bare origin; nothing is shared but git, the bucket and the server.

The tests share one stack and run in order, like a team's first days on it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.adapters import modelio
from tests.helpers.project import PARAMS, Repo
from tests.stack import BUCKET, KEYS, S3, MlflowServer, PostgreSQL

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("team")]
FIRST = PARAMS.environments.order[0].name
NAME = PARAMS.environments.model_name


class Stack:
    def __init__(self, root: Path):
        self.database = PostgreSQL()
        self.s3 = S3()
        self.mlflow = MlflowServer(self.database, self.s3, root)

    def env(self) -> dict[str, str]:
        """What a member's shell holds: the bucket's keys for DVC, the server's URL for MLflow; nothing else."""
        return {**KEYS, "MLFLOW_TRACKING_URI": self.mlflow.url}

    def stop(self) -> None:
        self.mlflow.stop()
        self.s3.stop()
        self.database.remove()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("team-stack"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def members(trained_repo: Repo, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Repo]:
    """A sets the project up on the stack (the remote as `init --dvc-remote ... --dvc-endpoint ...` writes it)
    and pushes; B clones the same origin afterwards."""
    root = tmp_path_factory.mktemp("members")
    a = trained_repo.copy(root / "a")
    a.env = {**a.env, **stack.env()}
    a.dvc("remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc")
    a.dvc("remote", "modify", "storage", "endpointurl", stack.s3.url)
    a.git("commit", "-q", "-am", "the team's DVC remote")
    a.git("branch", "-f", FIRST, "main")  # what `python -m pipelines setup` creates
    a.git("push", "-q", "origin", "main", FIRST)
    origin = a.git("remote", "get-url", "origin").stdout.strip()
    subprocess.run(["git", "clone", "-q", "-b", "main", origin, str(root / "b")], check=True, env=a.env)
    return {"a": a, "b": Repo(root / "b", a.env)}


def _client(stack: Stack):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=stack.mlflow.url)


def _predictions(repo: Repo, env: str) -> list:
    code = ("import json, sys; from mlflow.models import Model; from pipelines.adapters.releases import load_model; "
            "d = 'models/model'; x = Model.load(d).load_input_example(d); "
            "print(json.dumps(load_model(sys.argv[1]).predict(x).tolist()))")  # fmt: skip
    return json.loads(repo.run(sys.executable, "-c", code, env).stdout)


def test_1_a_logs_registers_and_pushes_and_b_gets_the_same_data_model_runs_and_registry(
    stack: Stack, members: dict[str, Repo]
) -> None:
    a, b = members["a"], members["b"]
    a.dvc("repro", "--force", "-s", "evaluate")  # a run on the server
    recorded = a.pipelines("record", "--after", "main")  # dvc push, registry version, alias `candidate`
    assert "MLflow: " in recorded.stderr and "(alias candidate)" in recorded.stderr
    a.git("push", "-q", "origin", f"promote/{FIRST}:{FIRST}")  # the promotion pull request, merged

    b.pipelines("bootstrap")  # dvc pull from the bucket
    for path in sorted((a.path / "data").rglob("*")):
        if path.is_file():
            twin = b.path / path.relative_to(a.path)
            assert hashlib.sha256(twin.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
    manifest = json.loads((a.path / "models" / "manifest.json").read_text())
    assert modelio.content_hash(b.path / "models" / "model") == manifest["content_hash"]

    client = _client(stack)
    experiment = client.get_experiment_by_name(PARAMS.mlflow.experiment)
    runs = client.search_runs([experiment.experiment_id])
    assert any(r.data.tags.get("model_hash") == manifest["content_hash"] for r in runs)
    (version,) = client.search_model_versions(f"name = '{NAME}'")
    assert version.tags["model_hash"] == manifest["content_hash"]
    assert client.get_model_version_by_alias(NAME, "candidate").version == version.version
    assert _predictions(a, FIRST) == _predictions(b, FIRST)


def test_2_restarting_the_tracking_server_and_postgresql_loses_nothing(stack: Stack, members: dict[str, Repo]) -> None:
    """Runs, versions, aliases and artifacts are in PostgreSQL and the bucket, not in the server process."""
    client = _client(stack)
    experiment = client.get_experiment_by_name(PARAMS.mlflow.experiment)
    before = {r.info.run_id for r in client.search_runs([experiment.experiment_id])}
    stack.mlflow.stop()
    stack.database.stop()
    stack.database.start()
    stack.mlflow.start()
    client = _client(stack)
    assert {r.info.run_id for r in client.search_runs([experiment.experiment_id])} == before
    alias = client.get_model_version_by_alias(NAME, "candidate")
    downloaded = Path(client.download_artifacts(alias.run_id, "model/MLmodel", str(members["b"].path.parent)))
    assert "skops" in downloaded.read_text()


def test_3_a_member_without_the_buckets_keys_gets_a_message_naming_the_remote(
    stack: Stack, members: dict[str, Repo], tmp_path: Path
) -> None:
    origin = members["a"].git("remote", "get-url", "origin").stdout.strip()
    env = {k: v for k, v in members["a"].env.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"}
    subprocess.run(["git", "clone", "-q", "-b", "main", origin, str(tmp_path / "c")], check=True, env=env)
    c = Repo(tmp_path / "c", env)
    result = c.pipelines("bootstrap", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "remote 'storage'" in result.stderr and f"s3://{BUCKET}/dvc" in result.stderr
