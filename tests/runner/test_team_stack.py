"""main.yml and deploy.yml wired to the team stack for real: the DVC remote in an S3 bucket (moto's server on
127.0.0.1) and `mlflow server` on PostgreSQL (tests/stack.py); the secrets and variables a fork sets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.project import PARAMS
from tests.runner.sandbox import Sandbox, push_event

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_team_stack")]  # one sandbox, in order


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.stack import S3, MlflowServer, PostgreSQL

    s3, database = S3(), PostgreSQL()
    mlflow = MlflowServer(database, s3, tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield s3, mlflow
    finally:
        mlflow.stop()
        s3.stop()
        database.remove()


def test_a_merge_stores_the_model_in_the_bucket_and_registers_it_as_the_candidate(sandbox: Sandbox, stack) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    from tests.stack import BUCKET, KEYS

    s3, mlflow = stack
    sandbox.checkout("origin/main")
    sandbox.git("checkout", "--quiet", "-B", "main")
    sandbox.sh("dvc", "remote", "add", "-d", "storage", f"s3://{BUCKET}/dvc")
    sandbox.sh("dvc", "remote", "modify", "storage", "endpointurl", s3.url)
    before = sandbox.origin_sha("main") or ""
    sandbox.git("commit", "--quiet", "-am", "The team's bucket as the DVC remote")
    sandbox.sh("env", *[f"{k}={v}" for k, v in KEYS.items()], "dvc", "push")  # a member with the keys
    sandbox.git("push", "--quiet", "origin", "main")
    after = sandbox.sha("HEAD")

    secrets = {
        "DVC_AWS_ACCESS_KEY_ID": KEYS["AWS_ACCESS_KEY_ID"],
        "DVC_AWS_SECRET_ACCESS_KEY": KEYS["AWS_SECRET_ACCESS_KEY"],
    }
    variables = {"MLFLOW_TRACKING_URI": mlflow.url}
    region = {"AWS_DEFAULT_REGION": KEYS["AWS_DEFAULT_REGION"]}
    run = sandbox.run("push", "main.yml", push_event(before, after), after, secrets=secrets, variables=variables,
                      env=region)  # fmt: skip
    run.expect(tests="success", record="success")
    assert run.job("record").outputs.get("stored") == "true"
    release = json.loads(sandbox.origin_show("promote/staging", "models/release.json") or "{}")
    client = MlflowClient(mlflow.url)
    candidate = client.get_model_version_by_alias(PARAMS.environments.model_name, "candidate")
    assert candidate.tags.get("model_hash") == release["model_hash"]
    assert candidate.tags.get("git_commit") == after

    (pull,) = sandbox.github.state.open_pulls()
    before, after = sandbox.merge_pull(pull["number"])
    deploy = sandbox.run("push", "deploy.yml", push_event(before, after, "staging"), after, secrets=secrets,
                         variables=variables, env=region)  # fmt: skip
    deploy.expect(deploy="success")
    staging = client.get_model_version_by_alias(PARAMS.environments.model_name, "staging")
    assert staging.version == candidate.version  # the same registered model: nothing was rebuilt
