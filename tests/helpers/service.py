"""What the service tests (and the benchmarks) share: the input contract and settings from params.yaml, log
settings, JSON rows as a client sends them, and a real `python -m pipelines serve` on 127.0.0.1 (`Server`,
killed by PID, dying with its parent). The fixtures are in tests/service/conftest.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from deploy.jsonlines import LogSettings
from deploy.payload import InputSpec
from deploy.state import ServiceSettings
from pipelines.jobs.serve import model_store
from tests.helpers.project import CONTRACT, PARAMS, ROOT, Repo

SPEC = InputSpec.from_schema(CONTRACT.inputs)
SETTINGS = ServiceSettings(PARAMS.serve.max_body_bytes, PARAMS.serve.request_timeout_seconds,
                           PARAMS.serve.inline_max_rows, PARAMS.serve.feedback.max_items,
                           PARAMS.serve.feedback.max_age_days)  # fmt: skip


def log_settings(directory: object, **overrides: object) -> LogSettings:
    """serve.log from params.yaml, at `directory`, with test-sized overrides."""
    return LogSettings(directory=directory, **{**PARAMS.serve.log.writer_settings(), **overrides})  # type: ignore[arg-type]


def json_rows(frame: Any) -> list[list[Any]]:
    """Rows of a DataFrame as a client sends them in JSON: Python values, null for a missing value."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [[v.item() if hasattr(v, "item") else v for v in row] for row in plain.values.tolist()]


FAST_PATHS = model_store().fast_paths


def logged_predictions(
    bundle: Any, input_spec: InputSpec, rows: list[list[Any]], logs: Path, contract: Any, challenger: Any = None
) -> list[str]:
    """Score `rows` with `bundle` (and `challenger` in shadow) through the real service in-process (create_app, its
    own prediction-log writer at `logs`, every request logged); the prediction ids it answered, once the log is
    written and closed."""
    from fastapi.testclient import TestClient

    from deploy.app import create_app
    from deploy.jsonlines import JsonLinesLog

    log = JsonLinesLog(log_settings(logs, sample_rate=1.0), seed=0)
    shadow = None if challenger is None else (lambda: challenger)
    with TestClient(create_app(input_spec, lambda: bundle, SETTINGS, log, None, shadow, contract)) as client:
        deadline = time.monotonic() + 30
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/health/ready").json()
            time.sleep(0.01)
        answer = client.post(
            "/invocations", json={"dataframe_split": {"columns": list(input_spec.names), "data": rows}}
        )
        assert answer.status_code == 200, answer.text
    return [str(i) for i in answer.json()["ids"]]


def wait_http_ok(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:  # type: ignore[type-arg]
    """Poll `url` until it answers 200; fail early if `process` exits, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"server exited {process.returncode}: {stderr}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout:.0f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """In the child: receive SIGTERM when the test process exits, however it exits."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """`python -m pipelines serve` in a repository, on 127.0.0.1. It stops with the test process
    (parent-death signal) or when `stop` kills it by PID."""

    def __init__(self, repo: Repo, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "pipelines", "serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.process = subprocess.Popen(cmd, cwd=repo.path, env=repo.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent)  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        wait_http_ok(f"{self.url}/health/ready", timeout, self.process)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def post(url: str, payload: object, content_type: str = "application/json") -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def background(fn) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


__all__ = ["ROOT", "SPEC", "Path", "Server", "background", "post"]  # re-exported for the service tests
