"""What each model input costs (Breck et al. 2017, The ML Test Score, data test 3: "no feature's cost is too
much"): the inference latency, training time and training memory it adds, measured by refitting the model
without it. No file access: data, the contract and settings in, the document `feature-cost` writes out.

For each input f, the pipeline is fit twice on the same seeded sample of at most `rows` training rows: with every
input, and without f (drop-column). Costs added by f are the full model's minus the reduced model's:
- `train_seconds`: wall-clock seconds of one fit (time.perf_counter), each model fit once;
- `train_mib`: the fit's peak traced allocation (tracemalloc, which sees NumPy's buffers), from a second fit;
- `latency_us`: microseconds to score one row through the service's compiled path
  (pipelines.core.fastpath.CompiledPipeline, what deploy/ scores with), the models' timings interleaved in each of
  `rounds` rounds of `calls` scorings, and the median per-call time over the rounds taken for each model, so that
  a slow moment of the machine hits every model alike.
A negative cost (the reduced model slower, within noise) is reported as measured. Timings depend on the machine:
the file is not a pipeline output and is never committed.
"""

from __future__ import annotations

import dataclasses
import time
import tracemalloc
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.estimators import Estimator
from pipelines.core.fastpath import CompiledPipeline, Compiler
from pipelines.core.params import FeatureCostParams, TrainParams
from pipelines.core.train import build_pipeline

COSTS = ("latency_us", "train_seconds", "train_mib")


@dataclasses.dataclass
class _Fitted:
    model: Any
    names: list[str]
    seconds: float
    mib: float


def without(contract: Contract, feature: str) -> Contract:
    """`contract` with `feature` no longer a model input (still a raw column)."""
    return dataclasses.replace(contract, inputs=contract.inputs.remove_columns([feature]))


def _fit(sample: pd.DataFrame, contract: Contract, build: Callable[[Contract], Any]) -> _Fitted:
    x, y = sample[contract.features], sample[contract.target]
    started = time.perf_counter()
    model = build(contract).fit(x, y)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        build(contract).fit(x, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return _Fitted(model, contract.features, seconds, peak / 2**20)


def _matrix(row: pd.DataFrame, names: Sequence[str], numeric: Sequence[bool]) -> np.ndarray:
    """One row as the service hands it to the compiled path: float64 when every input is a number, else objects."""
    values = row[list(names)].to_numpy(dtype=object)
    return values.astype(np.float64) if all(numeric) else values


def measure(
    train: pd.DataFrame,
    contract: Contract,
    params: TrainParams,
    estimators: Mapping[str, Estimator],
    preprocessor: Callable[[list[str], list[str]], Any],
    settings: FeatureCostParams,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """reports/feature_cost.json: the full model's costs (`full`) and, per input, what it adds (`features`: feature,
    latency_us, train_seconds, train_mib), from `train` (the training split: inputs and target).

    ValueError when the contract has a single input (nothing to drop)."""
    if len(contract.features) < 2:
        raise ValueError("feature cost needs at least two model inputs: dropping the only one leaves no model")
    sample = train.sample(n=min(settings.rows, len(train)), random_state=settings.seed).sort_index()
    fast_paths: list[Compiler] = [e.fast_path for e in estimators.values() if e.fast_path is not None]

    def build(c: Contract) -> Any:
        return build_pipeline(c, params, estimators, preprocessor)

    progress(f"fitting the full model on {len(sample)} rows")
    build(contract).fit(
        sample[contract.features], sample[contract.target]
    )  # warm-up: imports, caches, first-call costs
    fitted = [_fit(sample, contract, build)]
    for i, feature in enumerate(contract.features, 1):
        progress(f"[{i}/{len(contract.features)}] refitting without {feature}")
        fitted.append(_fit(sample, without(contract, feature), build))
    kinds = {name: name in set(contract.numeric) for name in contract.features}
    scorers = []
    for f in fitted:
        numeric = [kinds[n] for n in f.names]
        scorer = CompiledPipeline(f.model, f.names, numeric, fast_paths)
        scorers.append((scorer, _matrix(sample.iloc[:1], f.names, numeric)))
    progress(f"timing one-row scoring: {settings.rounds} rounds x {settings.calls} calls x {len(scorers)} models")
    timings = np.empty((settings.rounds, len(scorers)))
    with warnings.catch_warnings():  # a text part's own transform warns per call about feature names: not timed
        warnings.simplefilter("ignore")
        for r in range(settings.rounds):
            for m, (scorer, matrix) in enumerate(scorers):
                started = time.perf_counter()
                for _ in range(settings.calls):
                    scorer(matrix)
                timings[r, m] = (time.perf_counter() - started) / settings.calls * 1e6
    latency = np.median(timings, axis=0)
    full = fitted[0]
    entries = [
        {
            "feature": feature,
            "latency_us": round(float(latency[0] - latency[i]), 3),
            "train_seconds": round(full.seconds - f.seconds, 4),
            "train_mib": round(full.mib - f.mib, 3),
        }
        for i, (feature, f) in enumerate(zip(contract.features, fitted[1:], strict=True), 1)
    ]
    return {
        "rows": len(sample),
        "rounds": settings.rounds,
        "calls": settings.calls,
        "estimator": params.estimator,
        "full": {"latency_us": round(float(latency[0]), 3), "train_seconds": round(full.seconds, 4),
                 "train_mib": round(full.mib, 3)},
        "features": entries,
    }  # fmt: skip
