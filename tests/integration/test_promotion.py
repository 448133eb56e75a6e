"""Merge-to-promote, end to end: candidate -> staging -> production, a blocked worse candidate,
rollback, history, tampering and lock reproduction; real git with a bare origin, real dvc, and a
real `mlflow server` on 127.0.0.1 with a sqlite store.

The tests share one repository and run in order, like the life of a project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipelines.schema import FEATURES
from tests.conftest import Repo
from tests.service.conftest import _die_with_parent, free_port, wait_http_ok

pytestmark = [pytest.mark.slow, pytest.mark.example]
NAME = "breast-cancer-classifier"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--default-artifact-root", str(root / "artifacts"),
           "--workers", "1"]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=_die_with_parent, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/health", timeout=60, process=process)
        yield url
    finally:
        os.killpg(os.getpgid(process.pid), signal.SIGTERM)
        process.wait(20)


@pytest.fixture(scope="module")
def project(trained_repo: Repo, mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    repo = trained_repo.copy(tmp_path_factory.mktemp("promotion") / "repo")
    repo.env = {**repo.env, "MLFLOW_TRACKING_URI": mlflow_server}
    return repo


def _switch(repo: Repo, branch: str) -> None:
    repo.git("checkout", "-q", branch)
    repo.dvc("checkout", "-q")


def _merge(repo: Repo, source: str, target: str) -> None:
    """What merging the promotion pull request does."""
    _switch(repo, target)
    repo.git("merge", "-q", "--no-ff", "-m", f"Promote {source} to {target}", source)
    repo.git("push", "-q", "origin", target)
    repo.dvc("checkout", "-q")


def _registry(repo: Repo) -> dict:
    return json.loads(repo.pipelines("registry", "--json").stdout)


def _alias(url: str, alias: str) -> tuple[str, str]:
    from mlflow import MlflowClient

    version = MlflowClient(tracking_uri=url).get_model_version_by_alias(NAME, alias)
    return str(version.version), version.tags["model_hash"]


def _hash(repo: Repo) -> str:
    return json.loads((repo.path / "models" / "manifest.json").read_text())["content_hash"]


def _load_model(repo: Repo, env: str) -> np.ndarray:
    """pipelines.registry.load_model(env) in the repository; probabilities on the holdout's first rows."""
    code = ("import json, sys; from pipelines.registry import load_model; import pandas as pd; "
            "x = pd.read_parquet('build/test.parquet').head(20); "
            f"print(json.dumps(load_model({env!r}).predict_proba(x[{FEATURES!r}]).tolist()))")  # fmt: skip
    return np.array(json.loads(repo.run(sys.executable, "-c", code).stdout))


def test_1_a_merge_to_main_reproduces_the_lock_and_registers_a_candidate(project: Repo, mlflow_server: str) -> None:
    result = project.pipelines("verify-lock")
    assert "every stage output reproduces the committed dvc.lock" in result.stderr
    result = project.pipelines("candidate")
    assert f"registered {NAME} version 1 (alias candidate)" in result.stderr
    assert _alias(mlflow_server, "candidate") == ("1", _hash(project))


def test_2_first_promotions_to_staging_and_production(project: Repo, mlflow_server: str) -> None:
    v1 = _hash(project)
    for env in ("staging", "production"):
        project.git("branch", env, "main")
        project.git("push", "-q", "origin", env)
        _switch(project, env)
        result = project.pipelines("deploy", "--env", env, "--out", f"build/image-{env}")
        assert f"models:/{NAME}@{env} -> version 1" in result.stderr
        assert _alias(mlflow_server, env) == ("1", v1)
    table = _registry(project)
    assert table["staging"]["model_hash"] == table["production"]["model_hash"] == v1
    assert table["staging"]["version"] == 1
    release = json.loads((project.path / "build" / "image-production" / "release.json").read_text())
    assert release["model_version"] == "production-v1" and release["model_hash"] == v1
    _switch(project, "main")


def test_3_a_better_candidate_passes_the_staging_gate_and_is_promoted_by_pointer(
    project: Repo, mlflow_server: str
) -> None:
    project.set_param("train.logistic_regression.C", 0.3)
    project.dvc("repro")
    project.git("commit", "-q", "-am", "tune C")
    project.git("push", "-q", "origin", "main")
    v2 = _hash(project)
    assert "version 2" in project.pipelines("candidate").stderr

    gate = project.pipelines("promotion-gate", "--env", "staging", "--report", "reports/promotion.md")
    report = (project.path / "reports" / "promotion.md").read_text()
    assert gate.returncode == 0
    assert "Champion (staging now): evaluated on the same holdout." in report
    assert f"model {v2[:12]} replaces v1" in report
    assert "| `train.logistic_regression.C` | 1.0000 | 0.3000 |" in report  # params against staging's

    _merge(project, "main", "staging")
    assert _hash(project) == v2  # the pointer moved; nothing was retrained on staging
    project.pipelines("deploy", "--env", "staging", "--out", "build/image-staging")
    assert _alias(mlflow_server, "staging") == ("2", v2)
    assert _registry(project)["staging"]["version"] == 2
    _switch(project, "main")


def test_4_a_worse_candidate_is_blocked_at_staging_with_the_reason(project: Repo) -> None:
    project.git("checkout", "-q", "-b", "worse")
    project.set_param("train.logistic_regression.C", 0.001)
    project.dvc("repro")
    gate = project.pipelines("promotion-gate", "--env", "staging", check=False)
    assert gate.returncode == 1
    assert "FAIL: recall = 0.6667 is below the floor 0.8500" in gate.stderr
    assert "FAIL: recall regressed by" in gate.stderr
    project.git("checkout", "-q", "--", ".")
    _switch(project, "main")


def test_5_production_keeps_its_history_and_rolls_back_everywhere(project: Repo, mlflow_server: str) -> None:
    _switch(project, "production")
    before = _load_model(project, "production")
    _merge(project, "staging", "production")
    project.pipelines("deploy", "--env", "production", "--out", "build/image-production")
    after = _load_model(project, "production")
    assert not np.allclose(before, after)
    history = json.loads(project.pipelines("registry", "--history", "production", "--json").stdout)
    assert [r["version"] for r in history] == [1, 2]

    result = project.pipelines("rollback", "production", "--policy", "commit")
    assert "Roll back production to v1" in result.stderr
    project.git("fetch", "-q", "origin")
    project.git("checkout", "-q", "production")
    project.git("reset", "-q", "--hard", "origin/production")
    project.dvc("checkout", "-q")
    project.pipelines("deploy", "--env", "production", "--out", "build/image-production")

    assert [r["version"] for r in json.loads(project.pipelines("registry", "--history", "production",
                                                                "--json").stdout)] == [1, 2, 1]  # fmt: skip
    assert _registry(project)["production"]["version"] == 1
    assert _alias(mlflow_server, "production")[0] == "1"
    np.testing.assert_allclose(_load_model(project, "production"), before)
    _switch(project, "main")


def test_5b_the_service_serves_an_environment_by_name(project: Repo) -> None:
    """`serve --env production` fetches and verifies that branch's exact model and reports its release."""
    from tests.service.conftest import Server

    production = _registry(project)["production"]
    server = Server(project, "--env", "production", "--log-dir", str(project.path.parent / "logs"))
    try:
        server.wait_ready()
        version = json.loads(urllib.request.urlopen(f"{server.url}/version").read())
    finally:
        server.stop()
    assert version == {"model_version": f"production-v{production['version']}", "model_hash": production["model_hash"],
                       "git_commit": production["commit"], "data_hash": production["data_hash"]}  # fmt: skip


def test_6_a_reproduction_mismatch_on_main_names_the_stage_and_file(project: Repo) -> None:
    lock = project.path / "dvc.lock"
    data = yaml.safe_load(lock.read_text())
    for out in data["stages"]["train"]["outs"]:
        if out["path"] == "models/model":
            out["md5"] = "0" * 32 + ".dir"
    lock.write_text(yaml.safe_dump(data, sort_keys=False))
    project.git("commit", "-q", "-am", "a lock that the code does not produce")
    result = project.pipelines("verify-lock", check=False)
    assert result.returncode == 1
    assert "MISMATCH stage train: models/model reproduced as" in result.stderr


def test_7_a_tampered_model_is_refused_before_loading(project: Repo) -> None:
    manifest = json.loads(project.git("show", "staging:models/manifest.json").stdout)
    digest = manifest["files"]["model.skops"]
    cache = project.path / ".dvc" / "cache" / "files" / "md5"
    skops_md5 = next(
        f for f in cache.rglob("*") if f.is_file() and not f.name.endswith(".dir")
        and __import__("hashlib").sha256(f.read_bytes()).hexdigest() == digest
    )  # fmt: skip
    os.chmod(skops_md5, 0o644)
    skops_md5.write_bytes(skops_md5.read_bytes()[:-10] + b"0123456789")
    result = project.run(sys.executable, "-c", "from pipelines.registry import load_model; load_model('staging')",
                         check=False)  # fmt: skip
    assert result.returncode != 0
    assert "UntrustedModelError" in result.stderr and "changed: model.skops" in result.stderr
