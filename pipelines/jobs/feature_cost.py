"""`feature-cost`: what each model input costs (pipelines.core.feature_cost), written to reports/feature_cost.json
for the report's Features table and gate.feature_budgets. The pull request runs it after the pipeline; its timings
belong to the machine that measured them, so the file is not a pipeline output and is never committed."""

from __future__ import annotations

import argparse

from pipelines.adapters import files
from pipelines.adapters.params import estimators, load_contract, load_params, load_paths
from pipelines.commands import Subparsers, add, say


def cmd_feature_cost(args: argparse.Namespace) -> int:
    from pipelines.core.feature_cost import measure
    from pipelines.core.validation import validate
    from pipelines.yours.features import build_preprocessor

    params, paths, contract = load_params(args.params), load_paths(args.dvc_yaml), load_contract()
    train, _ = validate(files.read_frame(paths["train"]), contract.raw)
    doc = measure(
        train, contract, params.train, estimators(), build_preprocessor, params.feature_cost,
        lambda line: say("feature-cost", line),
    )  # fmt: skip
    out = args.out or paths["feature_cost"]
    files.write_json(out, doc)
    budgets = {k: v for k, v in params.gate.feature_budgets.model_dump().items() if v is not None}
    full = doc["full"]
    say("feature-cost", f"full model: {full['latency_us']:.1f} µs per row, fit {full['train_seconds']:.2f} s and "
                        f"{full['train_mib']:.1f} MiB peak; wrote {out}")  # fmt: skip
    for entry in doc["features"]:
        over = [f"{k} {entry[k]:g} > {b:g}" for k, b in budgets.items() if entry[k] > b]
        if over:
            say("feature-cost", f"{entry['feature']} is over budget: {', '.join(over)} (the gate judges its benefit)")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register feature-cost."""
    p = add(sub, "feature-cost", cmd_feature_cost)
    p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the training split's path is defined")
    p.add_argument("--out", help="where to write the costs (default: dvc.yaml's paths.feature_cost)")
