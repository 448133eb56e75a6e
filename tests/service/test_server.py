"""The real service on 127.0.0.1 (`python -m pipelines serve`), as a client and an operator see it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.project import CONTRACT, FEATURES, ROOT, Repo
from tests.helpers.service import Server, post, wait_http_ok

pytestmark = pytest.mark.slow


def test_mlflow_scoring_requests_get_the_same_predictions_as_pyfunc(server: Server, trained_repo: Repo) -> None:
    import mlflow.pyfunc
    from mlflow.models import Model, convert_input_example_to_serving_input

    model_dir = trained_repo.path / "models" / "model"
    example = Model.load(str(model_dir)).load_input_example(str(model_dir))  # typed by the signature
    expected = mlflow.pyfunc.load_model(str(model_dir)).predict(example).tolist()
    as_mlflow_writes_it = json.loads((model_dir / "serving_input_example.json").read_text())
    as_mlflow_builds_it = json.loads(convert_input_example_to_serving_input(example))
    plain = example.astype(object).where(example.notna(), None)
    records = {"dataframe_records": plain.to_dict(orient="records")}
    for payload in (as_mlflow_writes_it, as_mlflow_builds_it, records, {"instances": plain.values.tolist()}):
        status, body = post(server.url, payload)
        assert status == 200, body
        assert body["predictions"] == expected


def test_version_and_metrics_describe_the_loaded_model(server: Server, trained_repo: Repo) -> None:
    manifest = json.loads((trained_repo.path / "models" / "manifest.json").read_text())
    with urllib.request.urlopen(f"{server.url}/version") as response:
        version = json.loads(response.read())
    assert version["model_hash"] == manifest["content_hash"]
    assert version["model_version"] == f"sha-{manifest['content_hash'][:12]}"
    assert version["git_commit"] == trained_repo.git("rev-parse", "HEAD").stdout.strip()
    assert version["data_hash"] == yaml_md5(trained_repo.path / "data.dvc")
    with urllib.request.urlopen(f"{server.url}/metrics") as response:
        assert f'model_version="{version["model_version"]}"' in response.read().decode()


def yaml_md5(path: Path) -> str:
    import yaml

    return str(yaml.safe_load(path.read_text())["outs"][0]["md5"])


def test_a_barrage_of_bad_requests_gets_4xx_and_the_service_keeps_answering(server: Server, trained_repo: Repo) -> None:
    bad = [
        b"",
        b"null",
        b"[]",
        b'{"instances": "x"}',
        b'{"inputs": {"a": 1}}',
        b"\xff\xfe",
        b'{"instances": [[1e308]]}',
    ]
    for body in bad * 20:
        status, _ = post(server.url, body)
        assert 400 <= status < 500
    status, _ = post(server.url, b"{}", content_type="application/xml")
    assert status == 415
    # the trained copy's model: a clean checkout (as CI has) has no models/model of its own
    example = json.loads((trained_repo.path / "models" / "model" / "serving_input_example.json").read_text())
    assert post(server.url, example)[0] == 200


def test_smoke_checks_a_running_service_against_the_workspaces_model(server: Server, trained_repo: Repo) -> None:
    """What the kind workflow runs against the cluster (`make kind-smoke`), here against the local service."""
    ok = trained_repo.pipelines("smoke", "--url", server.url, "--workspace")
    assert "answers its input example, the workspace's model" in ok.stderr


def test_predictions_are_logged_for_monitoring(server: Server, trained_repo: Repo) -> None:
    # the trained copy's model: a clean checkout (as CI has) has no models/model of its own
    example = json.loads((trained_repo.path / "models" / "model" / "serving_input_example.json").read_text())
    post(server.url, example)
    deadline = time.monotonic() + 10
    records: list[dict] = []
    while time.monotonic() < deadline and not records:
        records = [json.loads(line) for f in sorted(server.log_dir.glob("*.jsonl"))  # type: ignore[attr-defined]
                   for line in f.read_text().splitlines()]  # fmt: skip
        time.sleep(0.1)
    assert records, "no prediction log written"
    last = records[-1]
    assert last["columns"] == FEATURES and len(last["rows"]) == len(last["predictions"])
    if CONTRACT.task != "regression":
        assert len(last["probabilities"]) == len(last["rows"])


def test_a_tampered_model_is_refused_at_start_up(repo_copy: Repo) -> None:
    model_file = repo_copy.path / "models" / "model" / "model.skops"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    result = repo_copy.pipelines("serve", "--port", "0", check=False)
    assert result.returncode == 1
    assert "does not match its manifest (changed: model.skops)" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_lets_an_in_flight_request_finish(trained_repo: Repo, tmp_path: Path) -> None:
    """A request whose body is still arriving when SIGTERM lands is answered; then the server exits 0."""
    running = Server(trained_repo, "--log-dir", str(tmp_path / "logs"))
    try:
        running.wait_ready()
        example = (trained_repo.path / "models" / "model" / "serving_input_example.json").read_bytes()
        head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(example)}\r\nConnection: close\r\n\r\n").encode()  # fmt: skip
        with socket.create_connection(("127.0.0.1", running.port), timeout=20) as sock:
            sock.sendall(head + example[:10])
            time.sleep(0.3)
            os.kill(running.process.pid, signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(example[10:])
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert b'"predictions"' in reply
        # after a graceful shutdown uvicorn re-raises the signal it handled, so SIGTERM is the exit status
        assert running.process.wait(20) in (0, -signal.SIGTERM)
        assert "Traceback" not in running.process.stderr.read()
    finally:
        running.stop()


def _uv() -> str | None:
    return shutil.which("uv") or (
        str(ROOT / ".tools" / "bin" / "uv") if (ROOT / ".tools" / "bin" / "uv").exists() else None
    )


def test_the_image_build_context_runs_with_only_the_image_requirements(trained_repo: Repo, tmp_path: Path) -> None:
    """What the Dockerfile copies exists; its CMD serves with deploy/requirements.txt alone (no dvc, no mlflow)."""
    context = tmp_path / "context"
    trained_repo.pipelines("image-context", "--out", str(context))
    dockerfile = (context / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE):
        for item in source.split():
            assert (context / item.rstrip("/")).exists(), f"COPY {item}: not in the build context"
    unreadable = [p for p in context.rglob("*") if not p.stat().st_mode & (0o005 if p.is_dir() else 0o004)]
    assert unreadable == [], "the image's non-root user could not read these"
    user = re.search(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user.group(1).split(":")[0] not in ("0", "root")
    assert "HEALTHCHECK" in dockerfile and "/health/ready" in dockerfile
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert cmd[:4] == ["python", "-m", "pipelines", "serve"]
    requirements = (context / "requirements.txt").read_text()
    assert not re.search(r"^(mlflow|dvc)[=\s]", requirements, re.MULTILINE)

    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed: cannot build the image's Python environment")
    venv = tmp_path / "image-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "--require-hashes",
                    "--no-deps", "-r", str(context / "requirements.txt")], check=True, timeout=300)  # fmt: skip
    port = str(_free_port())
    args = [str(venv / "bin" / "python"), *cmd[1:]]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", port
    assert "--log-dir" not in args, "the log location is a setting (SERVE_LOG_DIRECTORY), not baked into CMD"
    env_logs = str(tmp_path / "image-logs")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1",
           "SERVE_LOG_DIRECTORY": env_logs, "POD_NAME": "prediction-service-7d4b9-x2x8q"}  # fmt: skip
    process = subprocess.Popen(["timeout", "120", *args], cwd=context, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/health/ready", timeout=60, process=process)
        example = json.loads((context / "model" / "serving_input_example.json").read_text())
        status, body = post(url, example)
        assert status == 200, body
        release = json.loads((context / "release.json").read_text())
        assert json.loads(urllib.request.urlopen(f"{url}/version").read())["model_version"] == release["model_version"]
    finally:
        process.terminate()
        process.wait(20)
    logged = sorted(Path(env_logs).glob("predictions-*.jsonl"))  # written on SIGTERM, named after the pod
    assert logged and all("prediction-service-7d4b9-x2x8q" in p.name for p in logged)
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import mlflow"], capture_output=True).returncode != 0
    assert not (context / "challenger").exists() or not any((context / "challenger").iterdir())

    # the same image with a challenger laid in (the recorded model at HEAD): scored in shadow by the same CMD
    shadowed = tmp_path / "shadowed"
    trained_repo.pipelines("image-context", "--out", str(shadowed), "--rev", "HEAD", "--challenger-rev", "HEAD")
    manifest = json.loads((shadowed / "challenger" / "manifest.json").read_text())
    env["SERVE_LOG_DIRECTORY"] = str(tmp_path / "shadow-logs")
    process = subprocess.Popen(["timeout", "120", *args], cwd=shadowed, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_http_ok(f"{url}/health/ready", timeout=60, process=process)
        assert post(url, example)[0] == 200
        version = json.loads(urllib.request.urlopen(f"{url}/version").read())
        assert version["challenger"] and version["challenger"]["model_hash"] == manifest["content_hash"], version
    finally:
        process.terminate()
        process.wait(20)
    records = [json.loads(line) for f in sorted((tmp_path / "shadow-logs").glob("predictions-*.jsonl"))
               for line in f.read_text().splitlines()]  # fmt: skip
    (record,) = records  # the challenger's output rides in the champion's record
    assert record["challenger"]["model_hash"] == manifest["content_hash"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_grafana_dashboard_queries_metrics_the_service_exports(server: Server, tmp_path: Path) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exported = set(re.findall(r"^# TYPE (\w+) (\w+)", urllib.request.urlopen(f"{server.url}/metrics").read().decode(),
                              re.MULTILINE))  # fmt: skip
    names = (
        {name for name, _ in exported}
        | {f"{n}_total" for n, kind in exported if kind == "counter"}
        | {f"{n}_bucket" for n, kind in exported if kind == "histogram"}
    )
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs = [re.sub(r"by \([^)]*\)", "", e) for e in exprs]  # label lists are not metric names
    found = {m for e in exprs for m in re.findall(r"\b([a-z_]+)(?:\{|\[|\))", e)}
    used = {m for m in found if m.startswith(("prediction", "model", "feedback", "shadow"))}
    assert used and used <= names, used - names
    # the monitor's gauges (python -m pipelines monitor --prometheus), as write_prometheus writes them
    from pipelines.adapters.metrics_export import write_prometheus

    textfile = tmp_path / "monitor.prom"
    live = [{"model_hash": "a" * 64, "role": "champion", "labelled": 10, "coverage": 0.5, "metrics": {"r2": 0.5}}]
    comparison = {"challenger": "b" * 64, "difference": {"r2": {"difference": 0.1}}}
    write_prometheus(str(textfile), {"live": live, "comparison": comparison, "features": {}, "alert": False})
    written = set(re.findall(r"^# TYPE (\w+) ", textfile.read_text(), re.MULTILINE))
    monitor = {m for m in found if m.startswith("gitops_ml")}
    assert monitor and monitor <= written, monitor - written


def test_the_smoke_test_passes_on_the_right_model_and_fails_on_another(server: Server, trained_repo: Repo) -> None:
    from pipelines.adapters import smoke

    example = json.loads((trained_repo.path / "models" / "model" / "serving_input_example.json").read_text())
    manifest = json.loads((trained_repo.path / "models" / "manifest.json").read_text())
    assert smoke.check(server.url, example, manifest["content_hash"])["model_hash"] == manifest["content_hash"]
    with pytest.raises(smoke.SmokeError, match="expected 000000000000"):
        smoke.check(server.url, example, "0" * 64)
    result = trained_repo.pipelines("smoke", "--url", server.url, "--rev", "HEAD")
    assert "answers its input example, the model HEAD records" in result.stderr
