"""The `split` stage (dvc.yaml): the validated data split into training and holdout sets, seeded."""

from __future__ import annotations

import argparse

from pipelines.adapters.params import load_contract, load_params
from pipelines.commands import Subparsers, add, say


def cmd_split(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.core.data import split
    from pipelines.core.validation import validate

    params, contract = load_params(args.params).split, load_contract()
    frame, _ = validate(files.read_frame(args.input), contract.raw)
    train, test = split(
        frame, params.test_size, params.seed, params.stratify, contract.task, contract.target, params.order_by
    )
    files.write_frame(args.train, train)
    files.write_frame(args.test, test)
    say("split", f"{len(train)} train rows, {len(test)} test rows (seed {params.seed})")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register split."""
    p = add(sub, "split", cmd_split)
    p.add_argument("--input", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
