"""Fixtures for the prediction service: a bundle of the project's own model trained in-process, an
in-process app, and a real `python -m pipelines serve` on 127.0.0.1 that stops by itself and is killed by PID."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploy.app import create_app
from deploy.scoring import Bundle, build_bundle
from tests.helpers.project import FEATURES, Repo
from tests.helpers.service import FAST_PATHS, SETTINGS, SPEC, Server, json_rows


@pytest.fixture(scope="session")
def holdout(project_split: tuple[Any, Any]) -> list[list[Any]]:
    """The project's holdout rows (model inputs, in schema order), as JSON rows."""
    return json_rows(project_split[1][FEATURES])


@pytest.fixture(scope="session")
def bundle(project_model: Any, project_split: tuple[Any, Any]) -> Bundle:
    """The project's model behind the service; the fast path's probe is training rows, never the holdout
    rows the tests compare it on."""
    release = {"model_version": "test", "model_hash": "0" * 64, "git_commit": "c" * 40, "data_hash": "d"}
    return build_bundle(project_model, SPEC, release, json_rows(project_split[0][FEATURES].head(5)), FAST_PATHS)


@pytest.fixture
def client(bundle: Bundle) -> Iterator[TestClient]:
    app = create_app(SPEC, lambda: bundle, dataclasses.replace(SETTINGS, max_body_bytes=200_000))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, f"not ready: {test_client.get('/health/ready').json()}"
            time.sleep(0.01)
        yield test_client


@pytest.fixture(scope="session")
def server(trained_repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("prediction-logs")
    running = Server(trained_repo, "--log-dir", str(logs))
    running.log_dir = logs  # type: ignore[attr-defined]
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
