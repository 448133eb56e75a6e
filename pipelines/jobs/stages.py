"""The pipeline: bootstrap (`make data`), the four DVC stages, and `reproduce` (does a re-run agree
with what is committed?). dvc.yaml runs the stages; `make run`, pull-request.yml and main.yml run
`reproduce`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from pipelines.jobs.common import add, annotate, append, say


def bootstrap(dvc_file: str = "data.dvc") -> str:
    """Make the tracked data present; a one-line account of what happened.

    With a DVC remote: `dvc pull` of the data (it must be there: nothing can be rebuilt without it),
    then of whatever pipeline outputs the remote holds (`dvc repro` rebuilds the others, and the
    reproduction check judges them; deploys never come this way, they fetch by hash). Without one:
    the embedded default dataset, checked against `dvc_file`. Data already present is never
    overwritten, and nothing is left behind when the embedded data is not what `dvc_file` describes.
    """
    import shutil

    from pipelines.adapters import dvc, files
    from pipelines.core.data import DEFAULT_FILE, DataError, default_csv, parse_pointer

    pointer = Path(dvc_file)
    try:
        target = pointer.parent / parse_pointer(pointer.read_text(), str(pointer))[0]
    except OSError as exc:
        raise DataError(f"{pointer}: not a readable .dvc file ({exc})") from None
    if dvc.has_remote():
        try:
            dvc.pull(dvc_file)
        except dvc.DvcError as exc:
            raise DataError(f"{exc} (the data {dvc_file} records must be in the DVC remote)") from None
        dvc.run("pull", "--allow-missing")
        missing = _missing_outputs(pointer.parent / "dvc.lock")
        rebuilt = f"; not in the remote, so `dvc repro` rebuilds them: {', '.join(missing)}" if missing else ""
        return f"pulled {target} and the pipeline outputs from the DVC remote{rebuilt}"
    if target.exists() and (target.is_file() or any(target.iterdir())):
        if dvc.workspace_matches(str(target.relative_to(pointer.parent))):
            dvc.cache(dvc_file)  # so that `dvc status` is clean and `dvc exp` can restore it
            return f"{target} is present and matches {dvc_file}"
        return f"{target} is present but differs from {dvc_file}; after reviewing it, `dvc add {target}` records it"
    with files.atomic_dir(target) as tmp:
        (tmp / DEFAULT_FILE).write_bytes(default_csv())
    if not dvc.workspace_matches(str(target.relative_to(pointer.parent))):
        shutil.rmtree(target)
        raise DataError(
            f"{dvc_file} does not describe the embedded default dataset, and no DVC remote is "
            "configured to pull it from: add one with `dvc remote add -d <name> <url>`, then `dvc pull`"
        )
    dvc.cache(dvc_file)
    return f"materialised the default dataset into {target} (matches {dvc_file})"


def _missing_outputs(lock: Path) -> list[str]:
    """Outputs that `lock` records and the workspace does not have."""
    import yaml

    if not lock.exists():
        return []
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages") or {}
    paths = [out["path"] for body in stages.values() for out in body.get("outs") or []]
    return [path for path in paths if not (lock.parent / path).exists()]


def cmd_bootstrap(args: argparse.Namespace) -> int:
    say("bootstrap", bootstrap(args.dvc_file))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.adapters.params import load_contract
    from pipelines.core.data import profile
    from pipelines.core.validation import DataValidationError, validate

    contract = load_contract()
    frame, sources = files.read_raw(args.data)
    say("validate", f"read {len(frame)} rows from {len(sources)} file(s) under {args.data}")
    source_list = [{"path": s.path, "first_row": s.first_row, "rows": s.rows} for s in sources]
    try:
        validated, report = validate(frame, contract.raw)
    except DataValidationError as exc:
        files.write_json(args.report, {**exc.report.to_dict(), "sources": source_list})
        print(exc.report.summary(), file=sys.stderr)
        say("validate", f"full report: {args.report}; nothing downstream was changed")
        return 1
    files.write_json(args.report, {**report.to_dict(), "sources": source_list, "profile": profile(validated)})
    files.write_frame(args.out, validated)
    say("validate", report.summary())
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.adapters.params import load_contract, load_params
    from pipelines.core.data import split
    from pipelines.core.validation import validate

    params, contract = load_params(args.params).split, load_contract()
    frame, _ = validate(files.read_frame(args.input), contract.raw)
    train, test = split(frame, params.test_size, params.seed, params.stratify, contract.task, contract.target)
    files.write_frame(args.train, train)
    files.write_frame(args.test, test)
    say("split", f"{len(train)} train rows, {len(test)} test rows (seed {params.seed})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, modelio
    from pipelines.adapters.params import estimators, load_contract, load_params
    from pipelines.core.drift import reference_profile
    from pipelines.core.train import fit
    from pipelines.core.validation import validate
    from pipelines.yours.features import build_preprocessor

    params, contract = load_params(args.params).train, load_contract()
    train, _ = validate(files.read_frame(args.train), contract.raw)
    say("train", f"fitting {params.estimator} on {len(train)} rows")
    started = time.perf_counter()
    model, notes = fit(train, contract, params, estimators(), build_preprocessor)
    for note in notes:
        say("train", f"warning: {note}")
    digest = modelio.save(model, args.model, input_example=train[contract.features].head(5))
    files.write_json(args.manifest, modelio.manifest(args.model))
    profile = reference_profile(train, contract.numeric, contract.categorical, params.reference_bins)
    files.write_json(args.reference, profile)
    say("train", f"fitted in {time.perf_counter() - started:.1f}s; saved {args.model} (sha256 {digest[:12]})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, modelio, plots, tracking
    from pipelines.adapters.params import load_contract, load_params
    from pipelines.adapters.revisions import provenance
    from pipelines.core.evaluate import evaluate, recorded_predictions
    from pipelines.core.validation import validate

    params, contract = load_params(args.params), load_contract()
    test, _ = validate(files.read_frame(args.test), contract.raw)
    model = modelio.load(args.model)
    say("evaluate", f"scoring {args.model} on {len(test)} holdout rows")
    result = evaluate(model, test, params.evaluate, contract)
    plots.write_data(result, args.plots)
    figures = plots.write_figures(result, args.figures)
    # 10 significant digits: far finer than reproduce.prediction_tolerance, and coarse enough that
    # another CPU's last-bit differences almost never change the file (so git status stays quiet)
    files.write_csv(args.predictions, recorded_predictions(model, test, params.evaluate.recorded_rows, contract))
    files.write_json(args.metrics, result.metrics)
    say("evaluate", "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    if args.track:
        run_id = tracking.log_run(
            experiment=params.mlflow.experiment,
            params=params.model_dump(include={"split", "train", "evaluate"}),
            metrics=result.metrics,
            tags={**provenance(), "model_hash": modelio.content_hash(args.model), "estimator": params.train.estimator},
            artifacts={"model": args.model, "figures": args.figures},
        )
        say("evaluate", f"logged MLflow run {run_id} ({len(figures)} figures)")
    return 0


def reproduction(rev: str, params_file: str, dvc_yaml: str) -> Any:
    """The workspace's pipeline outputs judged against those committed at `rev` (pipelines.core.reproduce)."""
    import dataclasses

    import yaml

    from pipelines.adapters import git
    from pipelines.adapters.params import committed_outputs, load_outputs, load_params, load_paths
    from pipelines.core import reproduce

    committed_lock = git.show(rev, "dvc.lock")
    if committed_lock is None:
        raise git.GitError(f"{rev} has no committed dvc.lock to reproduce")
    settings, paths = load_params(params_file).reproduce, load_paths(dvc_yaml)
    outputs = {path: reproduce.Output(stage, path, cached) for stage, path, cached in load_outputs(dvc_yaml)}

    def workspace(path: str) -> dict[str, bytes]:
        p = Path(path)
        if p.is_file():
            return {"": p.read_bytes()}
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}

    result = reproduce.compare(
        rev,
        yaml.safe_load(committed_lock),
        yaml.safe_load(Path("dvc.lock").read_text()),
        outputs,
        lambda path: git.files_at(rev, path),
        workspace,
        reproduce.Settings(
            frozenset(settings.exact_stages),
            settings.tolerance,
            settings.prediction_tolerance,
            paths["model"],
            paths["manifest"],
            paths["holdout_predictions"],
        ),
    )
    fix = f"run `dvc repro`, then `git add {' '.join(committed_outputs(dvc_yaml))}` and commit"
    return dataclasses.replace(result, fix=fix)


def cmd_reproduce(args: argparse.Namespace) -> int:
    import json

    from pipelines.adapters import dvc, files, git

    if args.run:
        say("reproduce", "running the pipeline (dvc repro" + (" --force)" if args.force else ")"))
        if dvc.stream("repro", *(["--force"] if args.force else [])) != 0:
            say("reproduce", "dvc repro failed")
            return 1
    result = reproduction(args.rev, args.params, args.dvc_yaml)
    for finding in result.findings:
        if finding.status != "identical":
            say("reproduce", f"{finding.status:>12}  {finding.stage}: {finding.path}  {finding.detail}")
    say("reproduce", result.headline())
    if result.ok and result.equivalent:
        listed = git.modified(["dvc.lock", *{f.path for f in result.findings}])
        if listed:
            say(
                "reproduce",
                f"git status shows {', '.join(listed)} modified: they now name this machine's build of "
                "the same model; commit them or leave them (README: 'Reproduced, not byte-identical')",
            )
    elif not result.ok:
        annotate("error", result.headline())
    if args.verdict:
        files.write_json(args.verdict, result.to_dict())
    append(args.summary, "### Reproduction\n\n" + result.markdown())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok or args.advisory else 1


def add_commands(sub: Any) -> None:
    """Register bootstrap, validate, split, train, evaluate and reproduce."""
    p = add(
        sub,
        "bootstrap",
        cmd_bootstrap,
        "make the tracked data present: dvc pull, or the embedded default",
        params=False,
    )
    p.add_argument("--dvc-file", default="data.dvc", help="the .dvc file that tracks the raw data")

    p = add(sub, "validate", cmd_validate, "check the raw data against the schema (stage 1)")
    p.add_argument("--data", required=True, help="raw data directory or file")
    p.add_argument("--out", required=True, help="validated, typed data (Parquet)")
    p.add_argument("--report", required=True, help="validation report (JSON), written pass or fail")

    p = add(sub, "split", cmd_split, "stratified, seeded train/test split (stage 2)")
    p.add_argument("--input", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)

    p = add(sub, "train", cmd_train, "fit the model and save it in MLflow format (stage 3)")
    p.add_argument("--train", required=True)
    p.add_argument("--model", required=True, help="output model directory")
    p.add_argument("--manifest", required=True, help="output JSON with the model's content hash and file hashes")
    p.add_argument("--reference", required=True, help="output JSON profile of the training inputs (drift reference)")

    p = add(sub, "evaluate", cmd_evaluate, "metrics, plots and figures on the holdout set; log to MLflow (stage 4)")
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--metrics", required=True, help="metrics JSON")
    p.add_argument("--plots", required=True, help="directory for plot data (dvc plots)")
    p.add_argument("--figures", required=True, help="directory for PNG figures")
    p.add_argument("--predictions", required=True, help="CSV of the model's outputs on recorded holdout rows")
    p.add_argument("--no-track", dest="track", action="store_false", help="skip MLflow logging")

    p = add(
        sub,
        "reproduce",
        cmd_reproduce,
        "run the pipeline and check every output agrees with the committed "
        "ones within params.yaml's reproduce: tolerances",
    )
    p.add_argument("--rev", default="HEAD", help="the revision whose committed outputs are the reference")
    p.add_argument("--no-run", dest="run", action="store_false", help="compare only (after a `dvc repro` of your own)")
    p.add_argument("--force", action="store_true", help="re-run every stage (dvc repro --force), cached or not")
    p.add_argument("--advisory", action="store_true", help="exit 0 even when the outputs do not reproduce")
    p.add_argument("--verdict", help="write the verdict as JSON here (for `report` and `gate --reproduction`)")
    p.add_argument("--summary", help="append the verdict as markdown to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
