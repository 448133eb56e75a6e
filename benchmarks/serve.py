"""Benchmark the prediction service against `mlflow models serve`, side by side, on 127.0.0.1.

    make bench-serve                      # or: python benchmarks/serve.py --seconds 10

Both servers serve models/model with one worker process. Each is driven by the same load
generator (wrk when installed, `apt-get install wrk`; else a bounded Python client) for a fixed
time at concurrency 1 and 8, with 1-row and 100-row `dataframe_split` bodies. The in-process floor
is `model.predict` on a DataFrame of 1 and 100 rows. Targets: at least 5x MLflow's requests/s on
single rows; p50 at concurrency 1 within 1 ms of the floor; p99 under 10 ms at concurrency 8 on
single rows; zero errors. Then the same service with a challenger scored in shadow on every request
(`serve --challenger`, the workspace's model laid out as image-context lays one in): target, shadow
costs at most 30% of the requests/s at 1 row, concurrency 8. (Monitoring over 1M predictions joined
with 1M outcomes: benchmarks/monitor.py.)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT

from tests.helpers.service import free_port, wait_http_ok

MODEL = ROOT / "models" / "model"


def challenger(out: Path) -> Path:
    """The workspace's model laid out as a challenger (what image-context --challenger-rev writes)."""
    shutil.copytree(MODEL, out / "model")
    shutil.copy2(ROOT / "models" / "manifest.json", out / "manifest.json")
    (out / "release.json").write_text(json.dumps({"model_version": "challenger", "git_commit": "-", "data_hash": "-"}))
    return out


def start(kind: str, port: int, logdir: Path) -> subprocess.Popen[bytes]:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    if kind in ("ours", "ours + shadow"):
        cmd = [sys.executable, "-m", "pipelines", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--log-dir", str(logdir), "--feedback-dir", str(logdir.parent / "feedback")]  # fmt: skip
        if kind == "ours + shadow":
            cmd += ["--challenger", str(challenger(logdir.parent / "challenger"))]
        ready = f"http://127.0.0.1:{port}/health/ready"
    else:
        cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(MODEL), "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
        ready = f"http://127.0.0.1:{port}/ping"
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    wait_http_ok(ready, 90, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    with_group = os.getpgid(process.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)
        process.wait()


def payload(rows: int) -> bytes:
    import pandas as pd

    example = pd.read_json(MODEL / "input_example.json", orient="split")
    from pipelines.adapters.params import load_contract
    from pipelines.core.data import default_dataset

    FEATURES = load_contract().features

    data = default_dataset()[FEATURES].head(rows) if rows > len(example) else example.head(rows)
    return json.dumps({"dataframe_split": {"columns": list(data.columns), "data": data.values.tolist()}}).encode()


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, body: bytes, connections: int, seconds: float, tmp: Path) -> dict[str, float]:
    script = tmp / f"post-{len(body)}.lua"
    script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                      f"wrk.body = {json.dumps(body.decode())}\n")  # fmt: skip
    threads = min(2, connections)
    duration = f"-d{max(1, round(seconds))}s"  # wrk takes whole seconds
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", duration, "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "errors": errors,
    }


def run_python(url: str, body: bytes, connections: int, seconds: float, _tmp: Path) -> dict[str, float]:
    """Fallback load generator: `connections` keep-alive clients for a fixed time."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        mine = []
        while time.monotonic() < deadline:
            t = time.perf_counter()
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            if response.status != 200:
                errors[0] += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies.sort()
    return {"rps": len(latencies) / seconds, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors[0]}  # fmt: skip


def floor(rows: int) -> float:
    """Median ms of model.predict on a DataFrame of `rows` rows, in process."""
    import pandas as pd

    from pipelines.adapters import modelio

    model = modelio.load(MODEL)
    frame = pd.DataFrame(json.loads(payload(rows))["dataframe_split"]["data"],
                         columns=json.loads(payload(rows))["dataframe_split"]["columns"])  # fmt: skip
    model.predict(frame)
    times = []
    for _ in range(300):
        t = time.perf_counter()
        model.predict(frame)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each load run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    load = run_wrk if shutil.which("wrk") else run_python
    print(f"load generator: {'wrk' if load is run_wrk else 'python client (install wrk for better numbers)'}",
          file=sys.stderr)  # fmt: skip
    results: dict[tuple[str, int, int], dict[str, float]] = {}
    floors = {rows: floor(rows) for rows in (1, 100)}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        for kind in ("mlflow", "ours", "ours + shadow"):
            port = free_port()
            print(f"starting {kind} on port {port} ...", file=sys.stderr, flush=True)
            process = start(kind, port, tmp / "logs")
            try:
                url = f"http://127.0.0.1:{port}/invocations"
                for rows in (1, 100):
                    body = payload(rows)
                    load(url, body, 1, 1.0, tmp)  # warm-up
                    for connections in (1, 8):
                        results[(kind, rows, connections)] = load(url, body, connections, args.seconds, tmp)
                        r = results[(kind, rows, connections)]
                        print(f"  {kind} rows={rows} c={connections}: {r['rps']:.0f} req/s, p50 {r['p50']:.2f} ms",
                              file=sys.stderr, flush=True)  # fmt: skip
            finally:
                stop(process)

    print(f"in-process floor (model.predict on a DataFrame): 1 row {floors[1]:.3f} ms, 100 rows {floors[100]:.3f} ms\n")
    print("| server | rows | conc. | req/s | p50 ms | p99 ms | errors | req/s vs mlflow | p50 - floor ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (kind, rows, connections), r in results.items():
        ratio = r["rps"] / results[("mlflow", rows, connections)]["rps"]
        print(f"| {kind} | {rows} | {connections} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
              f"{int(r['errors'])} | {ratio:.1f}x | {r['p50'] - floors[rows]:+.2f} |")  # fmt: skip
    print("\n| shadow scoring | rows | conc. | req/s off | req/s on | cost | p99 ms off | p99 ms on |")
    print("|---|---|---|---|---|---|---|---|")
    for rows, connections in ((1, 1), (1, 8), (100, 8)):
        off, on = results[("ours", rows, connections)], results[("ours + shadow", rows, connections)]
        cost = 1 - on["rps"] / off["rps"]
        target = " (target <= 30%)" if (rows, connections) == (1, 8) else ""
        print(f"| challenger on every request | {rows} | {connections} | {off['rps']:.0f} | {on['rps']:.0f} | "
              f"{cost:.0%}{target} | {off['p99']:.2f} | {on['p99']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
