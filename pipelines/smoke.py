"""Smoke test of a running service: ready, answers the model's own example, serves the expected model.

The container engine is the one thing here that cannot run on every machine, so it sits behind a
two-method interface; `Docker` is the real one, used by the deploy workflow on GitHub.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Protocol

from pipelines.errors import PipelineError


class SmokeError(PipelineError):
    """The service did not come up, answered wrongly, or serves another model."""


class ContainerEngine(Protocol):
    def run(self, image: str, port: int) -> str: ...

    def stop(self, handle: str) -> None: ...


class Docker:
    def run(self, image: str, port: int) -> str:
        image = image.lower()  # registries (GHCR) refuse upper-case repository names
        result = subprocess.run(["docker", "run", "--detach", "--rm", "--publish", f"127.0.0.1:{port}:8080", image],
                                capture_output=True, text=True, check=False)  # fmt: skip
        if result.returncode != 0:
            raise SmokeError(f"docker run {image} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def stop(self, handle: str) -> None:
        subprocess.run(["docker", "stop", handle], capture_output=True, check=False)


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def check(url: str, example: dict[str, Any], model_hash: str, timeout: float = 90) -> dict[str, Any]:
    """Wait for readiness, score the example, compare /version's hash; return /version."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if _get(f"{url}/health/ready")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SmokeError(f"{url} did not become ready within {timeout:.0f}s")
        time.sleep(0.5)
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(example).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SmokeError(f"/invocations answered {error.code} to the model's own input example") from None
    rows = len(next(iter(example.values()))["data"]) if "dataframe_split" in example else None
    if not isinstance(body.get("predictions"), list) or (rows is not None and len(body["predictions"]) != rows):
        raise SmokeError("/invocations returned no predictions for the input example")
    status, version = _get(f"{url}/version")
    if status != 200 or version.get("model_hash") != model_hash:
        raise SmokeError(f"the service runs model {str((version or {}).get('model_hash'))[:12]}, "
                         f"expected {model_hash[:12]}")  # fmt: skip
    return dict(version)
