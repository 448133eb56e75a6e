"""Benchmark monitoring: `python -m pipelines monitor` over 1M logged rows x 30 features, drift alone and
then joined with 1M outcomes (live performance).

    make bench-monitor          # or: python benchmarks/monitor.py --rows 1000000

The rows are resampled from the default data with 1% noise and written in the service's prediction-log
format (100 rows per record, ids as the service makes them, 10 MB files); the outcomes are one per id, in
the feedback log's format. Targets on 2 cores: drift alone under 20 s and 2 GiB; with the join (the task's
metrics with bootstrap intervals on every labelled row) under 30 s and 2 GiB.
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

from deploy.feedback import make_ids
from pipelines.adapters.params import load_contract
from pipelines.core.data import default_dataset

FEATURES = load_contract().features


MODEL_HASH = "be" * 32
CLASSES = [0, 1]


def write_logs(directory: Path, rows: int, seed: int = 0, feedback: Path | None = None) -> None:
    """`rows` logged predictions in `directory`; with `feedback`, one outcome per prediction there (the label
    the probability was drawn for, so the stream has a known, imperfect ROC AUC)."""
    base = default_dataset()[FEATURES]
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True)
    outcomes = None
    if feedback is not None:
        feedback.mkdir(parents=True)
        outcomes = (feedback / "feedback-bench-000001.jsonl").open("wb")
    now, per_record, file_bytes, index, handle = time.time(), 100, 0, 0, None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        block = base.to_numpy()[rng.integers(0, len(base), n)] * rng.normal(1.0, 0.01, (n, len(FEATURES)))
        labels = rng.integers(0, 2, n)
        p = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0.001, 0.999)
        ids = make_ids(MODEL_HASH, n)
        for i in range(0, n, per_record):
            chunk = block[i : i + per_record]
            proba = np.column_stack([1 - p[i : i + per_record], p[i : i + per_record]])
            line = orjson.dumps({"ts": now, "model_version": "bench", "model_hash": MODEL_HASH, "columns": FEATURES,
                                 "rows": chunk, "ids": ids[i : i + per_record],
                                 "predictions": (proba[:, 1] >= 0.5).astype(int), "probabilities": proba,
                                 "classes": CLASSES, "answered": True,
                                 "truncated": False}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"  # fmt: skip
            if handle is None or file_bytes > 10 * 2**20:
                if handle:
                    handle.close()
                index += 1
                handle = (directory / f"predictions-bench-{index:06d}.jsonl").open("wb")
                file_bytes = 0
            handle.write(line)
            file_bytes += len(line)
        if outcomes is not None:
            outcomes.write(b"".join(orjson.dumps({"ts": now + 60, "id": i, "label": int(y), "source": "bench"}) + b"\n"
                                    for i, y in zip(ids, labels, strict=True)))  # fmt: skip
    if handle:
        handle.close()
    if outcomes is not None:
        outcomes.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    table = []
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp_name:
        tmp = Path(tmp_name)
        print(f"writing {args.rows:,} logged rows and {args.rows:,} outcomes ...", file=sys.stderr, flush=True)
        write_logs(tmp / "logs", args.rows, feedback=tmp / "feedback")
        (tmp / "none").mkdir()
        size = sum(p.stat().st_size for p in (tmp / "logs").iterdir()) / 2**20
        for label, outcomes, target in (("drift", tmp / "none", 20), ("drift + join", tmp / "feedback", 30)):
            print(f"running monitor ({label}) ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, "-m", "pipelines", "monitor", "--logs", str(tmp / "logs"), "--feedback",
                   str(outcomes), "--out", str(tmp / "monitor.md"), "--verdict", str(tmp / "verdict.json")]  # fmt: skip
            seconds, mib = measure(cmd, ROOT, env(tmp))
            verdict = orjson.loads((tmp / "verdict.json").read_bytes())
            live = verdict.get("live") or [{}]
            joined = (
                f"{live[0].get('labelled', 0):,} labelled, ROC AUC {live[0].get('metrics', {}).get('roc_auc', 0):.4f}"
            )
            table.append(f"| {label} | {args.rows:,} x {len(FEATURES)} | {size:.0f} MiB | {seconds:.1f} s (target < "
                         f"{target} s) | {mib:.0f} MiB (target < 2048) | {verdict['status']}, {verdict['rows']:,} rows"
                         f"{'; ' + joined if label != 'drift' else ''} |")  # fmt: skip
    print("| monitor | logged rows | log size | wall time | peak memory | verdict |")
    print("|---|---|---|---|---|---|")
    print("\n".join(table))


if __name__ == "__main__":
    main()
