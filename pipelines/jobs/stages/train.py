"""The `train` stage (dvc.yaml): the configured estimator fit and saved in MLflow format, with its hashes and
the profile of its training inputs that drift monitoring compares live traffic with."""

from __future__ import annotations

import argparse
import time

from pipelines.adapters.params import estimators, load_contract, load_params
from pipelines.commands import Subparsers, add, say


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, modelio
    from pipelines.core.drift import reference_profile
    from pipelines.core.privacy import masked_example
    from pipelines.core.train import fit
    from pipelines.core.validation import validate
    from pipelines.yours.features import build_preprocessor

    params, contract = load_params(args.params).train, load_contract()
    contract.check_inputs()  # a denied or unsourced input fails here, before anything is fit or written
    train, _ = validate(files.read_frame(args.train), contract.raw)
    say("train", f"fitting {params.estimator} on {len(train)} rows")
    started = time.perf_counter()
    model, notes = fit(train, contract, params, estimators(), build_preprocessor)
    for note in notes:
        say("train", f"warning: {note}")
    inputs = train[contract.features]
    # the example is saved with the model, logged to MLflow and baked into the image: no one's personal values
    example = masked_example(inputs.head(5), inputs, contract.inputs)
    digest = modelio.save(model, args.model, input_example=example, signature_sample=inputs.head(1000))
    files.write_json(args.manifest, modelio.manifest(args.model))
    profile = reference_profile(
        train, contract.numeric, contract.categorical, params.reference_bins, params.reference_discrete_max,
        contract.personal_inputs,
    )  # fmt: skip
    files.write_json(args.reference, profile)
    say("train", f"fitted in {time.perf_counter() - started:.1f}s; saved {args.model} (sha256 {digest[:12]})")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register train."""
    p = add(sub, "train", cmd_train)
    p.add_argument("--train", required=True)
    p.add_argument("--model", required=True, help="output model directory")
    p.add_argument("--manifest", required=True, help="output JSON with the model's content hash and file hashes")
    p.add_argument("--reference", required=True, help="output JSON profile of the training inputs (drift reference)")
