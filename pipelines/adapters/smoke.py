"""Smoke test of a running service: ready, answers the model's own example, serves the expected model.

A service started from an image (pipelines.adapters.images runs it through the container engine) or any
URL; the expected model hash comes from the manifest git records, never from the service itself.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from pipelines.errors import PipelineError


class SmokeError(PipelineError):
    """The service did not come up, answered wrongly, or serves another model."""


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def check(url: str, example: dict[str, Any], model_hash: str, timeout: float = 90) -> dict[str, Any]:
    """Wait for readiness (at most `timeout` seconds), score the example, compare /version's model hash.

    Returns the service's /version; raises SmokeError naming what went wrong.
    """
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
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(example).encode(), headers={"Content-Type": "application/json"}
    )
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
        raise SmokeError(
            f"the service runs model {str((version or {}).get('model_hash'))[:12]}, expected {model_hash[:12]}"
        )
    return dict(version)
