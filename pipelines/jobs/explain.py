"""`python -m pipelines explain`: one prediction explained, step by step (a command for people; no workflow runs
it). `--id` takes a prediction id the service returned: its logged inputs and output are read from the prediction
log (pipelines.adapters.sources, the monitor's reader), and the model that made it is loaded by the hash the log
names (the workspace's models/model when it is that model, else by hash from git and DVC, or the MLflow registry:
pipelines.adapters.releases.find_model). `--row` takes a row of your own, scored by the workspace's model (or
`--model`). The explanation itself is pipelines.core.explain; its text and JSON forms pipelines.core.explain_text."""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.adapters.params import load_contract, load_params, load_paths
from pipelines.commands import Subparsers, add
from pipelines.core import ids
from pipelines.core.explain import ExplainError, explain, input_frame
from pipelines.core.explain_text import document, render
from pipelines.core.params import Params

if TYPE_CHECKING:
    import pandas as pd

BACKGROUND_ROWS = 100  # training rows a tree ensemble's Shapley values are taken against (--background)


@dataclass(frozen=True)
class LoggedPrediction:
    """One prediction as the log holds it: the input `row` (column -> value, None for a missing value), the model's
    `output` (probabilities in `classes` order, or [value]), the `model_hash`, its `role` and when it was logged."""

    prediction_id: str
    model_hash: str
    role: str
    classes: list[Any] | None
    row: dict[str, Any]
    output: list[float]
    ts: float


def _cell(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def find_logged(prediction_id: str, logs: str, challenger: bool = False) -> LoggedPrediction:
    """The prediction `prediction_id` in the prediction log at `logs` (a directory or fsspec URL): the champion's
    (the model whose hash the id starts with), or with `challenger` the model scored in shadow on the same row.
    ExplainError for a malformed id, an empty log, or an id the log does not hold."""
    from pipelines.adapters import sources

    if not ids.well_formed(prediction_id):
        raise ExplainError(f"{prediction_id!r} is not a prediction id (37 lowercase hex digits with valid check "
                           "digits, as /invocations returns them in `ids`)")  # fmt: skip
    files = sources.list_logs(logs)
    if not files:
        raise ExplainError(f"no prediction log at {logs} (no predictions-*.jsonl files there); pass --logs")
    since = ids.made_at(prediction_id) - ids.CLOCK_SKEW_SECONDS  # logged after it was made
    logged = sources.read_predictions(files, since, inputs=True)
    role = "challenger" if challenger else "champion"
    holding = [(h, log) for h, log in logged.items() if log.inputs is not None and (log.ids == prediction_id).any()]
    made = [(h, log) for h, log in holding if h.startswith(prediction_id[:12])]  # the id carries its maker's hash
    if challenger:
        chosen = [(h, log) for h, log in holding if not h.startswith(prediction_id[:12])]
    else:
        chosen = made or [(h, log) for h, log in holding if log.role == "champion"]
    if not chosen:
        read = sum(len(log.ids) for log in logged.values())
        raise ExplainError(f"prediction id {prediction_id} has no {role} entry in the prediction log at {logs} "
                           f"({len(files)} file(s), {read:,} prediction(s) logged since it was made)")  # fmt: skip
    model_hash, log = chosen[0]
    assert log.inputs is not None
    i = int((log.ids == prediction_id).nonzero()[0][0])
    output = log.output[i]
    return LoggedPrediction(
        prediction_id, model_hash, role, log.classes,
        {str(c): _cell(v) for c, v in zip(log.columns, log.inputs[i].tolist(), strict=True)},
        [float(v) for v in np.ravel(output)], float(log.ts[i]),
    )  # fmt: skip


def parse_row(text: str) -> dict[str, Any]:
    """`--row`: a JSON object of input column -> value (null for a missing value); ExplainError when it is not."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExplainError(f"--row is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(row, dict):
        raise ExplainError(f"--row must be a JSON object of input column -> value, not a {type(row).__name__}")
    return row


def load_model(model_hash: str | None, model: str | None, tmp: Path, params: Params) -> tuple[Any, dict[str, str]]:
    """The fitted pipeline to explain, and what it is ({hash, version, source}): `model` (a model directory,
    which must hash to `model_hash` when one is given), else the workspace's models/model verified against its
    manifest when it is `model_hash` (or no hash is asked for), else the model `model_hash` names, found by
    pipelines.adapters.releases.find_model into `tmp`. Raises PipelineError naming the hash when it is nowhere."""
    from pipelines.adapters import modelio, releases

    envs = [env.name for env in params.environments.order]
    if model:
        if not Path(model, "MLmodel").is_file():
            raise ExplainError(f"--model {model}: not a model directory (no MLmodel file)")
        digest = modelio.content_hash(model)
        if model_hash is not None and digest != model_hash:
            raise ExplainError(f"--model {model} is model {digest}, not {model_hash}, which the log names")
        source = f"{model} (--model; its files hash to {digest[:12]})"
        return modelio.load(model), {"hash": digest, "version": f"sha-{digest[:12]}", "source": source}
    paths = load_paths()
    directory: Path | None
    try:
        directory, digest = modelio.workspace_model()
    except (OSError, modelio.UntrustedModelError) as exc:
        if model_hash is None:
            raise ExplainError(f"no model to score the row with: {paths['model']} is not usable ({exc}); run "
                               "`make run`, or pass --model") from None  # fmt: skip
        directory, digest = None, ""
    if directory is not None and (model_hash is None or digest == model_hash):
        version = releases.released_as(digest, envs) or f"sha-{digest[:12]}"
        source = f"{directory} (the workspace's model, verified against {paths['manifest']})"
        return modelio.load(directory), {"hash": digest, "version": version, "source": source}
    assert model_hash is not None
    source = releases.find_model(model_hash, tmp / "model", params.environments.model_name)
    version = releases.released_as(model_hash, envs) or f"sha-{model_hash[:12]}"
    return modelio.load(tmp / "model"), {"hash": model_hash, "version": version, "source": source}


def background_rows(path: str, rows: int, seed: int, columns: list[str]) -> pd.DataFrame | None:
    """Up to `rows` rows of the training split at `path` (its input `columns`), a seeded sample; None when the file
    is not there or lacks one of the columns (a linear model needs none)."""
    from pipelines.adapters import files

    if rows <= 0 or not Path(path).is_file():
        return None
    frame = files.read_frame(path)
    if any(c not in frame.columns for c in columns):  # written under another contract
        return None
    return frame[columns].sample(min(rows, len(frame)), random_state=seed).reset_index(drop=True)


def cmd_explain(args: argparse.Namespace) -> int:
    params, contract = load_params(args.params), load_contract()
    logged, logs = None, None
    if not args.id and not args.row:
        raise ExplainError("name what to explain: --id <prediction id> (a logged prediction) or --row JSON")
    if args.id:
        logs = args.logs or params.monitor.logs or params.serve.log.directory
        logged = find_logged(args.id, logs, args.challenger)
        row = {**logged.row, **(parse_row(args.row) if args.row else {})}
        withheld = [c for c in contract.personal if c in contract.features and c not in row]
        if withheld:  # the log never holds a personal input (docs/OPERATIONS.md, "Privacy")
            shown = ", ".join(f'"{c}": ...' for c in withheld)
            raise ExplainError(f"prediction {args.id}: the prediction log withholds its personal input(s) "
                               f"{', '.join(withheld)}; pass their values with --row '{{{shown}}}'")  # fmt: skip
    else:
        row = parse_row(args.row)
    frame = input_frame(row, contract)
    train = args.train or load_paths()["train"]
    background = background_rows(train, args.background, params.train.seed, contract.features)
    with tempfile.TemporaryDirectory(prefix="explain-") as tmp:
        model, about = load_model(logged.model_hash if logged else None, args.model, Path(tmp), params)
    try:
        explanation = explain(model, frame, background, logged.output if logged else None)
    except ExplainError as exc:
        if background is None and "background rows" in str(exc):
            raise ExplainError(f"{exc}: none usable at {train} (run `make run`, or pass --train)") from None
        raise
    tree = explanation.contributions.by_feature is None  # Shapley values, against the background rows
    doc = document(explanation, {
        "prediction_id": logged.prediction_id if logged else None,
        "model": about,
        "logged": None if logged is None else {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(logged.ts)), "role": logged.role, "log": logs},
        "background": f"{len(background)} rows of {train} (seed {params.train.seed})" if tree and background is not None
        else None,
    })  # fmt: skip
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n" if args.json else render(doc))
    if explanation.matches is False:
        raise ExplainError(
            f"prediction {args.id}: the model's output {explanation.output} does not match the logged output "
            f"{explanation.logged}: the log entry or the model is not what it says"
        )
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register explain."""
    p = add(sub, "explain", cmd_explain)
    p.add_argument("--id", help="a prediction id from the service's answer (`ids`): explain that logged row")
    p.add_argument("--row", help='a JSON object of input column -> value, e.g. \'{"age": 41, "plan": null}\'; with '
                                 "--id, the personal inputs the log withholds")  # fmt: skip
    p.add_argument("--logs", help="the prediction log (default: monitor.logs, else serve.log.directory)")
    p.add_argument("--challenger", action="store_true", help="with --id: the shadow model's output on that row")
    p.add_argument("--model", help="a model directory (default: the model the log names; for --row, models/model)")
    p.add_argument("--train", help="training rows for a tree model's background (default: dvc.yaml's train path)")
    p.add_argument("--background", type=int, default=BACKGROUND_ROWS,
                   help="how many training rows a tree model is explained against (default: %(default)s)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the explanation as one JSON document")
