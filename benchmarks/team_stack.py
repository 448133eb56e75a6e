"""Benchmark the team stack on 127.0.0.1: `dvc push` / `dvc pull` to an S3 endpoint (moto's server standing in
for MinIO) of the default data and model and of a 1M-row dataset, and MLflow run logging and model
registration against `mlflow server` on PostgreSQL versus the sqlite default. Prints a table.

    python benchmarks/team_stack.py                 # the default data, then 1M rows
    python benchmarks/team_stack.py --rows 100000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, env, workspace

sys.path.insert(0, str(ROOT))

from pipelines.core.data import DEFAULT_FILE, default_dataset
from tests.stack import BUCKET, KEYS, S3, MlflowServer, PostgreSQL


def _size(path: Path) -> float:
    """MB under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _timed(cmd: list[str], cwd: Path, environ: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=environ, check=True, capture_output=True)
    return time.perf_counter() - start


def dvc_round_trip(rows: int | None, s3: S3, tmp: Path) -> tuple[str, float, float, float]:
    """(label, MB moved, push seconds, pull seconds into an empty cache) for a workspace with `rows` rows."""
    environ = {**env(tmp), **KEYS, "PIPELINES_MLFLOW_BACKGROUND": "0"}
    work = workspace(tmp, environ)
    if rows:
        base = default_dataset()
        frame = base.iloc[np.random.default_rng(0).integers(0, len(base), rows)].reset_index(drop=True)
        (work / "data").mkdir(exist_ok=True)
        frame.to_csv(work / "data" / DEFAULT_FILE, index=False)
        subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "data"], cwd=work, env=environ, check=True)
    else:
        subprocess.run([sys.executable, "-m", "pipelines", "bootstrap"], cwd=work, env=environ, check=True,
                       capture_output=True)  # fmt: skip
    prefix = f"s3://{BUCKET}/bench-{rows or 'default'}"
    for cmd in (["remote", "add", "-d", "storage", prefix], ["remote", "modify", "storage", "endpointurl", s3.url]):
        subprocess.run([sys.executable, "-m", "dvc", *cmd], cwd=work, env=environ, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=work, env=environ, check=True, capture_output=True)
    moved = _size(work / ".dvc" / "cache")
    push = _timed([sys.executable, "-m", "dvc", "push", "-q"], work, environ)
    shutil.rmtree(work / ".dvc" / "cache")
    shutil.rmtree(work / "data")
    pull = _timed([sys.executable, "-m", "dvc", "pull", "-q"], work, environ)
    return (f"{rows:,} rows" if rows else "default data + model"), moved, push, pull


def mlflow_latency(uri: str, model_dir: Path, tmp: Path, label: str) -> tuple[str, float, float]:
    """(store, seconds to log one run with the model's artifacts, seconds to register it), in a fresh process."""
    code = (
        "import sys, time, mlflow; from pipelines.adapters import tracking; "
        "t = time.perf_counter(); "
        "tracking.log_run(experiment='bench', params={'a': 1}, metrics={'m': 0.5}, tags={}, "
        "artifacts={'model': sys.argv[1]}); "
        "r = time.perf_counter() - t; t = time.perf_counter(); "
        "tracking.register('bench-model', __import__('pathlib').Path(sys.argv[1]), 'h' * 64, {}, {'m': 0.5}, 'bench'); "
        "print('\\n', r, time.perf_counter() - t)"
    )
    environ = {**env(tmp), **KEYS, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(model_dir)], cwd=tmp, env=environ, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1].split()  # fmt: skip
    return label, float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-team-") as tmp_name:
        tmp = Path(tmp_name)
        database, s3 = PostgreSQL(), S3()
        server = MlflowServer(database, s3, tmp)
        try:
            rows = []
            for n in [None, *args.rows]:
                print(f"dvc push/pull: {n or 'default'} ...", file=sys.stderr)
                rows.append(dvc_round_trip(n, s3, tmp / f"dvc-{n or 'default'}"))
            model = tmp / "dvc-default" / "work" / "models" / "model"
            (tmp / "sqlite").mkdir()
            latency = [
                mlflow_latency(server.url, model, tmp, "mlflow server (PostgreSQL + S3)"),
                mlflow_latency(f"sqlite:///{tmp / 'sqlite' / 'mlflow.db'}", model, tmp / "sqlite", "sqlite (default)"),
            ]
        finally:
            server.stop()
            s3.stop()
            database.remove()
    print("| what | MB | dvc push | MB/s | dvc pull (empty cache) | MB/s |")
    print("|---|---|---|---|---|---|")
    for label, mb, push, pull in rows:
        print(f"| {label} | {mb:.1f} | {push:.2f} s | {mb / push:.1f} | {pull:.2f} s | {mb / pull:.1f} |")
    print()
    print("| MLflow store | log one run (with the model) | register the model |")
    print("|---|---|---|")
    for label, log, register in latency:
        print(f"| {label} | {log:.2f} s | {register:.2f} s |")


if __name__ == "__main__":
    main()
