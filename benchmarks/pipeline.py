"""Benchmark the pipeline: wall time and peak memory of `dvc repro`, a no-op repro, and each stage.

Runs in a throwaway copy of the repository, on the default data and on synthetic data of the
same shape (the default rows resampled with a little noise, so every row is schema-valid).

    make bench-pipeline                      # default data, then 10k, 100k and 1M rows
    python benchmarks/pipeline.py --rows 10000 100000

Targets on a 2-core machine: no-op repro under 3 s; 1M rows end to end under 120 s with peak
memory under 3 GiB; time growing no worse than linearly in rows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _common import ROOT, env, measure, workspace

sys.path.insert(0, str(ROOT))

from pipelines.adapters.params import load_contract
from pipelines.core.data import DEFAULT_FILE, default_dataset

CONTRACT = load_contract()
FEATURES = CONTRACT.features

STAGES = ("validate", "split", "train", "evaluate")


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows resampled from the default data, features jittered by 1% of their spread."""
    base = default_dataset()
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    bounds = {name: col.checks[-1].statistics["max_value"] for name, col in CONTRACT.inputs.columns.items()}
    for name in FEATURES:
        noise = rng.normal(0.0, 0.01 * base[name].std(), rows)
        frame[name] = np.clip(frame[name].to_numpy() + noise, 0.0, bounds[name])
    return frame


def bench(rows: int | None, tmp: Path) -> dict[str, float | int]:
    environ = env(tmp)
    work = workspace(tmp, environ)
    py = sys.executable
    subprocess.run([py, "-m", "pipelines", "bootstrap"], cwd=work, env=environ, check=True, capture_output=True)
    if rows is not None:
        (work / "data" / DEFAULT_FILE).unlink()
        synthetic(rows).to_csv(work / "data" / "synthetic.csv", index=False)
        subprocess.run([py, "-m", "dvc", "add", "-q", "data"], cwd=work, env=environ, check=True)
    n = rows if rows is not None else len(default_dataset())
    result: dict[str, float | int] = {"rows": n}
    result["full_s"], result["full_mib"] = measure([py, "-m", "dvc", "repro"], work, environ)
    result["noop_s"], _ = measure([py, "-m", "dvc", "repro"], work, environ)
    for stage in STAGES:
        result[f"{stage}_s"], result[f"{stage}_mib"] = measure(
            [py, "-m", "dvc", "repro", "--force", "--single-item", stage], work, environ
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--skip-default", action="store_true", help="skip the default (569-row) data")
    args = parser.parse_args()
    sizes: list[int | None] = ([] if args.skip_default else [None]) + list(args.rows)
    results = []
    for size in sizes:
        label = "default" if size is None else f"{size:,} rows"
        print(f"benchmarking {label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            results.append(bench(size, Path(tmp)))
        print(f"  done: full repro {results[-1]['full_s']:.1f}s", file=sys.stderr, flush=True)

    head = ["rows", "full repro", "peak", "no-op", *STAGES, "full s / 100k rows"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        cells = [
            f"{int(r['rows']):,}",
            f"{r['full_s']:.1f} s",
            f"{r['full_mib']:.0f} MiB",
            f"{r['noop_s']:.2f} s",
            *(f"{r[f'{s}_s']:.1f} s / {r[f'{s}_mib']:.0f} MiB" for s in STAGES),
            f"{r['full_s'] / r['rows'] * 100_000:.2f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
