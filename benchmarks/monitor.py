"""Benchmark drift monitoring: `python -m pipelines monitor` over 1M logged rows x 30 features.

    make bench-monitor          # or: python benchmarks/monitor.py --rows 1000000

The rows are resampled from the default data with 1% noise and written in the service's
prediction-log format (100 rows per record, 10 MB files). Target on 2 cores: under 20 s and 2 GiB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from _common import ROOT, env, measure

sys.path.insert(0, str(ROOT))

from pipelines.adapters.params import load_contract
from pipelines.core.data import default_dataset

FEATURES = load_contract().features


def write_logs(directory: Path, rows: int, seed: int = 0) -> None:
    base = default_dataset()[FEATURES]
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    now, per_record, file_bytes, index, handle = time.time(), 100, 0, 0, None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        block = base.to_numpy()[rng.integers(0, len(base), n)] * rng.normal(1.0, 0.01, (n, len(FEATURES)))
        for i in range(0, n, per_record):
            chunk = block[i : i + per_record]
            line = orjson.dumps({"ts": now, "model_version": "bench", "columns": FEATURES, "rows": chunk,
                                 "predictions": [0] * len(chunk), "probabilities": [[0.5, 0.5]] * len(chunk),
                                 "truncated": False}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"  # fmt: skip
            if handle is None or file_bytes > 10 * 2**20:
                if handle:
                    handle.close()
                index += 1
                handle = (directory / f"predictions-bench-{index:06d}.jsonl").open("wb")
                file_bytes = 0
            handle.write(line)
            file_bytes += len(line)
    if handle:
        handle.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"writing {args.rows:,} logged rows ...", file=sys.stderr, flush=True)
        write_logs(tmp / "logs", args.rows)
        size = sum(p.stat().st_size for p in (tmp / "logs").iterdir()) / 2**20
        print("running monitor ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "pipelines", "monitor", "--logs", str(tmp / "logs"), "--out",
               str(tmp / "monitor.md"), "--verdict", str(tmp / "drift.json")]  # fmt: skip
        seconds, mib = measure(cmd, ROOT, env(tmp))
        verdict = orjson.loads((tmp / "drift.json").read_bytes())
    print("| logged rows | log size | wall time | peak memory | verdict |")
    print("|---|---|---|---|---|")
    print(f"| {args.rows:,} x {len(FEATURES)} | {size:.0f} MiB | {seconds:.1f} s (target < 20 s) | "
          f"{mib:.0f} MiB (target < 2048) | {verdict['status']}, {verdict['rows']:,} rows |")  # fmt: skip


if __name__ == "__main__":
    main()
