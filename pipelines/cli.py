"""`python -m pipelines <command>`: the one entry point for DVC stages, make targets and workflows.

Each command parses its arguments, reads its slice of params.yaml, calls a pure function from
the package and writes outputs atomically. Heavy libraries are imported inside the commands so
that `--help` stays instant.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _say(command: str, message: str) -> None:
    print(f"[{command}] {message}", file=sys.stderr, flush=True)


def _append(path: str | None, text: str) -> None:
    """Append to a file such as $GITHUB_OUTPUT or $GITHUB_STEP_SUMMARY, when one was given."""
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text)


def _annotate(level: str, message: str) -> None:
    """A GitHub Actions annotation (shown on the pull request's checks page); nothing elsewhere."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::{level}::{message}", flush=True)


def _stale_stages() -> list[str]:
    """Stages whose workspace outputs are not what the workspace's code, params and data produce
    (`dvc status`), each with what changed: empty when the outputs can be judged."""
    import json
    import subprocess

    from pipelines.errors import PipelineError

    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise PipelineError(f"dvc status failed: {result.stderr.strip()}")
    stale = []
    for stage, entries in json.loads(result.stdout or "{}").items():
        changes = []
        for entry in entries:
            if isinstance(entry, str):
                changes.append(entry)
                continue
            for kind, detail in entry.items():
                changes.append(f"{kind}: {', '.join(detail)}" if isinstance(detail, dict) else kind)
        stale.append(f"{stage} ({'; '.join(changes)})")
    return stale


def _refuse_stale(command: str) -> None:
    """Refuse to judge outputs that the workspace's code, params and data would not produce."""
    from pipelines.errors import PipelineError

    stale = _stale_stages()
    if stale:
        raise PipelineError(
            f"{command}: the pipeline's outputs are stale, so there is nothing sound to judge: {', '.join(stale)}; "
            "run `dvc repro` first"
        )


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from pipelines.data import bootstrap

    _say("bootstrap", bootstrap(args.dvc_file))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipelines import files
    from pipelines.data import profile, read_raw
    from pipelines.validation import DataValidationError, validate

    frame, sources = read_raw(args.data)
    _say("validate", f"read {len(frame)} rows from {len(sources)} file(s) under {args.data}")
    source_list = [{"path": s.path, "first_row": s.first_row, "rows": s.rows} for s in sources]
    try:
        validated, report = validate(frame)
    except DataValidationError as exc:
        files.write_json(args.report, {**exc.report.to_dict(), "sources": source_list})
        print(exc.report.summary(), file=sys.stderr)
        _say("validate", f"full report: {args.report}; nothing downstream was changed")
        return 1
    files.write_json(args.report, {**report.to_dict(), "sources": source_list, "profile": profile(validated)})
    files.write_frame(args.out, validated)
    _say("validate", report.summary())
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from pipelines import files
    from pipelines.config import load_params
    from pipelines.data import split
    from pipelines.validation import validate

    params = load_params(args.params).split
    frame, _ = validate(files.read_frame(args.input))
    train, test = split(frame, params.test_size, params.seed, params.stratify)
    files.write_frame(args.train, train)
    files.write_frame(args.test, test)
    _say("split", f"{len(train)} train rows, {len(test)} test rows (seed {params.seed})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipelines import files, modelio
    from pipelines.config import load_params
    from pipelines.monitor import reference_profile
    from pipelines.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
    from pipelines.train import fit
    from pipelines.validation import validate

    params = load_params(args.params).train
    train, _ = validate(files.read_frame(args.train))
    _say("train", f"fitting {params.estimator} on {len(train)} rows")
    started = time.perf_counter()
    model, notes = fit(train, params)
    for note in notes:
        _say("train", f"warning: {note}")
    digest = modelio.save(model, args.model, input_example=train[FEATURES].head(5))
    files.write_json(args.manifest, modelio.manifest(args.model))
    files.write_json(args.reference, reference_profile(train, NUMERIC_FEATURES, CATEGORICAL_FEATURES,
                                                       params.reference_bins))  # fmt: skip
    _say("train", f"fitted in {time.perf_counter() - started:.1f}s; saved {args.model} (sha256 {digest[:12]})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pipelines import files, gitutil, modelio, plots, tracking
    from pipelines.config import load_params
    from pipelines.data import tracked_path
    from pipelines.evaluate import evaluate, recorded_predictions
    from pipelines.validation import validate

    params = load_params(args.params)
    test, _ = validate(files.read_frame(args.test))
    model = modelio.load(args.model)
    _say("evaluate", f"scoring {args.model} on {len(test)} holdout rows")
    result = evaluate(model, test, params.evaluate)
    plots.write_data(result, args.plots)
    figures = plots.write_figures(result, args.figures)
    # 10 significant digits: far finer than reproduce.prediction_tolerance, and coarse enough that
    # another CPU's last-bit differences almost never change the file (so git status stays quiet)
    files.write_csv(args.predictions, recorded_predictions(model, test, params.evaluate.recorded_rows))
    files.write_json(args.metrics, result.metrics)
    _say("evaluate", "  ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    if args.track:
        _, data_hash = tracked_path(args.data_dvc) if Path(args.data_dvc).exists() else (None, "unknown")
        run_id = tracking.log_run(
            experiment=params.mlflow.experiment,
            params=params.model_dump(include={"split", "train", "evaluate"}),
            metrics=result.metrics,
            tags={
                "git_commit": gitutil.commit(),
                "data_hash": data_hash,
                "model_hash": modelio.content_hash(args.model),
                "estimator": params.train.estimator,
            },
            artifacts={"model": args.model, "figures": args.figures},
        )
        _say("evaluate", f"logged MLflow run {run_id} ({len(figures)} figures)")
    return 0


def _gate_inputs(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Params, paths, this branch's metrics, the base's metrics (None if absent) and the verdict."""
    import json

    from pipelines import baseline, gitutil
    from pipelines.config import load_params, load_paths
    from pipelines.gate import check, check_task
    from pipelines.schema import TASK

    params, paths = load_params(args.params), load_paths(args.dvc_yaml)
    check_task(params.gate, TASK)
    _refuse_stale(args.command)
    metrics = json.loads(Path(paths["metrics"]).read_text())
    if args.base and gitutil.resolve(args.base) is None:
        raise gitutil.GitError(f"base revision {args.base!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    base = baseline.metrics(args.base, paths["metrics"]) if args.base else None
    return params, paths, metrics, base, check(metrics, base, params.gate)


def _read_reproduction(path: str | None) -> Any:
    """The verdict `reproduce --verdict` wrote, or None when no path was given."""
    import json

    from pipelines.errors import PipelineError
    from pipelines.reproduce import Reproduction

    if path is None:
        return None
    try:
        return Reproduction.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"{path}: no readable reproduction verdict ({exc}); run `python -m pipelines "
            f"reproduce --verdict {path}` first"
        ) from None


def cmd_gate(args: argparse.Namespace) -> int:
    from pipelines.gate import markdown_table

    _, _, _, base, verdict = _gate_inputs(args)
    reproduced = _read_reproduction(args.reproduction)
    table = markdown_table(verdict)
    print(table)
    if base is None:
        _say("gate", "no baseline metrics on the base revision: checking the absolute floors only")
    reasons = [r.reason for r in verdict.failures]
    if reproduced is not None and not reproduced.ok:
        reasons.insert(0, reproduced.headline())
        _annotate("error", reproduced.headline())
    for reason in reasons:
        _say("gate", f"FAIL: {reason}")
    passed = not reasons
    heading = "### ✅ Model gate passed" if passed else "### ❌ Model gate failed"
    lines = "".join(f"- {reason}\n" for reason in reasons)
    _append(args.summary, f"{heading}\n\n{lines}\n{table}\n")
    _say("gate", "passed" if passed else f"failed: {len(reasons)} rule(s)")
    return 0 if passed else 1


def _stage_params(flat: dict[str, Any] | None) -> dict[str, Any] | None:
    """The pipeline stages' params only, so both sides of a report compare the same slice."""
    return (
        None if flat is None else {k: v for k, v in flat.items() if k.split(".")[0] in ("split", "train", "evaluate")}
    )


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines import baseline, files, gitutil
    from pipelines.report import ReportInputs, build
    from pipelines.schema import TASK
    from pipelines.tracking import flatten

    params, paths, metrics, base_metrics, verdict = _gate_inputs(args)
    base = gitutil.resolve(args.base) if args.base else None
    run_url = args.run_url
    if run_url is None and os.environ.get("GITHUB_RUN_ID"):
        run_url = "{}/{}/actions/runs/{}".format(
            os.environ.get("GITHUB_SERVER_URL", "https://github.com"),
            os.environ.get("GITHUB_REPOSITORY", ""),
            os.environ["GITHUB_RUN_ID"],
        )
    figures = sorted(str(p) for p in Path(paths["figures"]).glob("*.png"))
    inputs = ReportInputs(
        metrics=metrics,
        base_metrics=base_metrics,
        params=flatten(params.model_dump(include={"split", "train", "evaluate"})),
        base_params=_stage_params(baseline.params(base, args.params)) if base else None,
        verdict=verdict,
        plots=baseline.read_plots(paths["plots"]),
        base_plots=baseline.plots(base, paths["plots"]) if base else {},
        data=baseline.data_change(base, args.data_dvc, paths["validation_report"], paths["data"]) if base else None,
        head=gitutil.commit(),
        base=base,
        figures_url=run_url,
        figures=figures,
        images=args.images,
        task=TASK,
        reproduction=_read_reproduction(args.reproduction),
    )
    files.write_text(args.out, build(inputs))
    if args.pr_number is not None:
        files.write_json(Path(args.out).with_name("pr.json"), {"number": args.pr_number, "head_sha": args.head_sha})
    _say("report", f"wrote {args.out} (gate {'passed' if verdict.passed else 'failed'})")
    return 0


def cmd_changed(args: argparse.Namespace) -> int:
    from pipelines import gitutil
    from pipelines.changes import pipeline_relevant
    from pipelines.config import load_params

    patterns = load_params(args.params).ci.pipeline_paths
    changed = gitutil.changed_files(args.base)
    relevant = pipeline_relevant(changed, patterns)
    run = bool(relevant)
    for path in relevant:
        print(path)
    _say(
        "changed",
        f"{len(changed)} file(s) changed, {len(relevant)} affect the pipeline: "
        + ("run it" if run else "no training needed"),
    )
    _append(args.github_output, f"pipeline={'true' if run else 'false'}\n")
    return 0


def cmd_comment(args: argparse.Namespace) -> int:
    import tempfile

    from pipelines.github import CmlCommenter, GhCli, post_report

    with tempfile.TemporaryDirectory() as work:
        number = post_report(
            Path(args.artifact),
            repo=args.repo,
            head_sha=args.head_sha,
            github=GhCli(),
            commenter=CmlCommenter(),
            workdir=Path(work),
        )
    _say("comment", f"posted the report on pull request #{number}")
    return 0


def cmd_protect(args: argparse.Namespace) -> int:
    import json

    import yaml

    from pipelines.github import GhCli, environment_calls, protection_calls, reviewer_resolver

    settings = yaml.safe_load(Path(args.settings).read_text())
    github = GhCli()
    # environments first: the branch rules do not depend on them, the deploy jobs do
    resolve = None if args.dry_run else reviewer_resolver(github)
    calls = environment_calls(settings, args.repo, resolve) + protection_calls(settings, args.repo)
    for path, payload in calls:
        if args.dry_run:
            print(f"gh api --method PUT {path} --input - <<'JSON'\n{json.dumps(payload, indent=2)}\nJSON")
        else:
            github.put(path, payload)
            _say("protect", f"applied {path}")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    import yaml

    from pipelines import gitutil
    from pipelines.github import GhCli, GitHubError, missing_reviewers, reviewer_resolver, setup_calls

    settings = yaml.safe_load(Path(args.settings).read_text())
    sha = gitutil.resolve(args.main)
    if sha is None:
        raise GitHubError(f"no local {args.main!r} branch: the environment branches start from it; push it first")
    unreviewed = missing_reviewers(settings)
    if unreviewed and not args.allow_no_reviewers:
        message = (f"environments.{unreviewed}.reviewers is empty in {args.settings}: {unreviewed} deploys would "
                   "wait for nobody. Add GitHub logins or org/team slugs (or `init --reviewers`), or pass "
                   "--allow-no-reviewers")  # fmt: skip
        if not args.dry_run:
            raise GitHubError(message)
        _say("setup", f"warning: {message}")
    if args.dry_run:
        for call in setup_calls(settings, args.repo, sha):
            if call.note:
                print(f"# {call.note}")
            print(call.command())
        return 0
    github = GhCli()
    for call in setup_calls(settings, args.repo, sha, github, reviewer_resolver(github)):
        {"POST": github.post, "PUT": github.put, "PATCH": github.patch}[call.method](call.path, call.payload or {})
        _say("setup", f"{call.method} {call.path}")
    _say("setup", f"{args.repo} is set up; re-running changes nothing that exists")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from pipelines import project

    root = Path.cwd()
    name = args.name or re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-") or "project"
    options = project.Options(
        name=name,
        model_name=args.model_name or name,
        image=args.image,
        environments=tuple(args.environments.split(",")) if args.environments else None,  # type: ignore[arg-type]
        reviewers=tuple(r for r in args.reviewers.split(",") if r) if args.reviewers is not None else None,
        dvc_remote=args.dvc_remote,
        mlflow_uri=args.mlflow_uri,
        dataset=Path(args.dataset).resolve() if args.dataset else None,
        target=args.target,
        task=args.task,
    )
    if options.dataset is not None and not options.target:
        raise project.InitError("--dataset needs --target COLUMN: the column to predict")
    _say("init", "checking the repository" + (f" and reading {args.dataset}" if args.dataset else ""))
    plan = project.plan(root, options)
    if plan.task:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in plan.scores.items())
        _say("init", f"task: {plan.task}; the first model on the holdout split: {scores}")
    changed = project.apply(root, options, plan)
    if not changed:
        _say("init", "already set up with these options: nothing to change")
        return 0
    for path in changed:
        _say("init", f"wrote {path}")
    _say("init", "next: review pipelines/schema.py and the gate floors in params.yaml, run `make run` and "
                 "`make test`, then commit everything (docs/FORKING.md)")  # fmt: skip
    return 0


def _release(path: str | None, digest: str) -> dict[str, str]:
    """What /version reports: from a release file (written at image build time), else from git."""
    import json

    from pipelines import gitutil

    if path:
        recorded = json.loads(Path(path).read_text())
        return {k: str(recorded.get(k, "unknown")) for k in ("model_version", "git_commit", "data_hash")} | {
            "model_hash": digest
        }
    data_hash = "unknown"
    if Path("data.dvc").exists():
        from pipelines.data import tracked_path

        data_hash = tracked_path("data.dvc")[1]
    return {"model_version": f"sha-{digest[:12]}", "model_hash": digest, "git_commit": gitutil.commit(),
            "data_hash": data_hash}  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> int:
    import json

    import uvicorn

    from deploy.app import ServiceSettings, create_app
    from deploy.predictions import LogSettings, PredictionLog
    from deploy.scoring import InputSpec, load_bundle
    from pipelines import gitutil, modelio
    from pipelines.config import load_params, load_paths
    from pipelines.schema import Features

    params = load_params(args.params).serve
    if args.env:  # the exact model an environment runs, fetched at its branch and verified
        import tempfile

        from pipelines import registry

        rev = registry.branch_ref(args.env)
        now = registry.current(rev)
        if now is None:
            raise registry.RegistryError(f"{args.env} has no model yet")
        model_dir = Path(tempfile.mkdtemp(prefix=f"serve-{args.env}-")) / "model"
        digest = registry.fetch_model(rev, model_dir)
        manifest = json.loads(gitutil.show(rev, load_paths(args.dvc_yaml)["manifest"]) or "{}")
        release = {"model_version": f"{args.env}-v{now.version}", "model_hash": digest, "git_commit": now.commit,
                   "data_hash": now.data_hash}  # fmt: skip
    else:
        paths = load_paths(args.dvc_yaml) if not (args.model and args.manifest) else {}
        model_dir = Path(args.model or paths["model"])
        manifest = json.loads(Path(args.manifest or paths["manifest"]).read_text())
        digest = modelio.verify(model_dir, manifest)  # a tampered model never gets as far as a socket
        release = _release(args.release, digest)
    spec = InputSpec.from_schema(Features)
    log = None
    if params.log.sample_rate > 0:
        log = PredictionLog(LogSettings(directory=args.log_dir or params.log.directory,
                                        **params.log.model_dump(exclude={"directory"})))  # fmt: skip
    app = create_app(
        spec,
        lambda: load_bundle(model_dir, manifest, release, spec),
        ServiceSettings(params.max_body_bytes, params.request_timeout_seconds, params.inline_max_rows),
        log,
    )
    _say("serve", f"model {release['model_version']} verified; listening on {args.host or params.host}:"
         f"{args.port if args.port is not None else params.port}")  # fmt: skip
    config = uvicorn.Config(
        app,
        host=args.host or params.host,
        port=args.port if args.port is not None else params.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(params.graceful_shutdown_seconds),
    )
    uvicorn.Server(config).run()
    return 0


def _reproduction(rev: str, params_file: str, dvc_yaml: str) -> Any:
    """The workspace's pipeline outputs judged against those committed at `rev` (pipelines.reproduce)."""
    import dataclasses

    import yaml

    from pipelines import gitutil, reproduce
    from pipelines.config import load_outputs, load_params, load_paths

    committed_lock = gitutil.show(rev, "dvc.lock")
    if committed_lock is None:
        raise gitutil.GitError(f"{rev} has no committed dvc.lock to reproduce")
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
        lambda path: gitutil.files_at(rev, path),
        workspace,
        reproduce.Settings(frozenset(settings.exact_stages), settings.tolerance, settings.prediction_tolerance,
                           paths["model"], paths["manifest"], paths["holdout_predictions"]),
    )  # fmt: skip
    committed = " ".join(["dvc.lock", *(path for path, out in outputs.items() if not out.cached)])
    return dataclasses.replace(result, fix=f"run `dvc repro`, then `git add {committed}` and commit")


def cmd_reproduce(args: argparse.Namespace) -> int:
    import json
    import subprocess

    from pipelines import files

    if args.run:
        _say("reproduce", "running the pipeline (dvc repro" + (" --force)" if args.force else ")"))
        command = [sys.executable, "-m", "dvc", "repro", *(["--force"] if args.force else [])]
        if subprocess.run(command, check=False).returncode != 0:
            _say("reproduce", "dvc repro failed")
            return 1
    result = _reproduction(args.rev, args.params, args.dvc_yaml)
    for finding in result.findings:
        if finding.status != "identical":
            _say("reproduce", f"{finding.status:>12}  {finding.stage}: {finding.path}  {finding.detail}")
    _say("reproduce", result.headline())
    if result.ok and result.equivalent:
        paths = ["dvc.lock", *{f.path for f in result.findings}]
        status = subprocess.run(["git", "status", "--porcelain", "--", *paths], capture_output=True, text=True)
        listed = sorted(line[3:] for line in status.stdout.splitlines() if line.strip())
        if listed:
            _say(
                "reproduce",
                f"git status shows {', '.join(listed)} modified: they now name this machine's build of the same "
                "model; commit them or leave them (README: 'Reproduced, not byte-identical')",
            )
    elif not result.ok:
        _annotate("error", result.headline())
    if args.verdict:
        files.write_json(args.verdict, result.to_dict())
    _append(args.summary, "### Reproduction\n\n" + result.markdown())
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0 if result.ok or args.advisory else 1


def _workspace_model() -> tuple[Path, str]:
    """The workspace's model directory, verified against the workspace's manifest (local use only)."""
    import json

    from pipelines import modelio
    from pipelines.config import load_paths

    paths = load_paths()
    model_dir = Path(paths["model"])
    return model_dir, modelio.verify(model_dir, json.loads(Path(paths["manifest"]).read_text()))


def _target_env(envs: Any, args: argparse.Namespace) -> Any:
    """The environment `--env` names, or the one promoted from `--after`; ParamsError if there is none."""
    from pipelines.config import ParamsError

    if getattr(args, "env", None):
        return envs.get(args.env)
    following = envs.next_after(args.after)
    if following is None:
        raise ParamsError(f"no environment in params.yaml is promoted from {args.after!r}")
    return following


def _json_bytes(data: Any) -> bytes:
    import json

    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def _env_ref(name: str) -> str | None:
    """The environment branch as this checkout knows it (local, else origin/), or None if it does not exist."""
    from pipelines import gitutil, registry

    ref = registry.branch_ref(name)
    return ref if gitutil.resolve(ref) else None


def _data_hash(rev: str) -> str:
    from pipelines import gitutil
    from pipelines.data import parse_pointer

    pointer = gitutil.show(rev, "data.dvc")
    return parse_pointer(pointer, f"{rev}:data.dvc")[1] if pointer else "unknown"


def _smoke_image(engine: Any, reference: str, example: dict[str, Any], model_hash: str, port: int) -> dict[str, Any]:
    """Run the image by digest on 127.0.0.1:`port`, check it answers its example with `model_hash`, stop it."""
    from pipelines import smoke

    handle = engine.run(reference, port)
    try:
        return smoke.check(f"http://127.0.0.1:{port}", example, model_hash)
    finally:
        engine.stop(handle)


def cmd_image_context(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from pipelines import images, registry
    from pipelines.config import load_paths

    paths = load_paths(args.dvc_yaml)
    with tempfile.TemporaryDirectory(prefix="image-context-") as tmp:
        if args.rev:  # the model recorded at a revision, verified against the manifest git holds there
            model_dir = Path(tmp) / "model"
            digest = registry.fetch_model(args.rev, model_dir)
            manifest = json.loads(registry.gitutil.show(args.rev, paths["manifest"]) or "{}")
            release = _release(None, digest) | {"git_commit": registry.gitutil.resolve(args.rev) or "unknown",
                                                 "data_hash": _data_hash(args.rev)}  # fmt: skip
        else:  # the workspace's model, for trying the image locally
            model_dir, digest = _workspace_model()
            manifest = json.loads(Path(paths["manifest"]).read_text())
            release = _release(None, digest)
        if args.model_version:
            release["model_version"] = args.model_version
        images.lay_out_context(args.out, model_dir, manifest, release, args.params)
    _say("image-context", f"wrote {args.out} for model {release['model_version']} ({digest[:12]})")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    import json

    from pipelines import gitutil, registry
    from pipelines.config import TASK_METRICS, load_params, load_paths
    from pipelines.schema import TASK

    envs = load_params(args.params).environments
    if args.history:
        rows = [r.to_dict() for r in registry.history(args.history)]
        print(json.dumps(rows, indent=2) if args.json else "\n".join(
            f"v{r['version']}  {r['model_hash'][:12]}  {r['commit'][:10]}  {r['promoted_at']}  {r['subject']}"
            for r in rows))  # fmt: skip
        return 0
    table: dict[str, Any] = {}
    for env in envs.stages:
        try:
            table[env.name] = registry.current(env.name)
        except registry.RegistryError:
            table[env.name] = None
    main_ref = registry.branch_ref("main")
    manifest = json.loads(gitutil.show(main_ref, load_paths()["manifest"]) or "null")
    if args.json:
        out = {"main": {"model_hash": manifest["content_hash"]} if manifest else None}
        print(json.dumps(out | {k: (v.to_dict() if v else None) for k, v in table.items()}, indent=2))
        return 0
    shown = TASK_METRICS[TASK][:3]
    print(f"| environment | version | model hash | image | commit | data hash | {' | '.join(shown)} | promoted at |")
    print("|---|---|---|---|---|---|" + "---|" * len(shown) + "---|")
    if manifest:
        print(
            f"| main (not a release) | - | {manifest['content_hash'][:12]} | - | - | - |" + " - |" * len(shown) + " - |"
        )
    for label, r in table.items():
        if r is None:
            print(f"| {label} | - | - | - | - | - |" + " - |" * len(shown) + " - |")
            continue
        values = " | ".join(f"{r.metrics.get(m, float('nan')):.4f}" for m in shown)
        image = r.image.rsplit("@", 1)[-1][:19] if r.image else "-"
        print(f"| {label} | v{r.version} | {r.model_hash[:12]} | {image} | {r.commit[:10]} | {r.data_hash[:12]} | "
              f"{values} | {r.promoted_at} |")  # fmt: skip
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    import json
    import subprocess
    import tempfile

    from pipelines import gitutil, mlflow_registry, modelio, record, registry
    from pipelines.config import load_outputs, load_params, load_paths
    from pipelines.data import has_remote

    params, paths = load_params(args.params), load_paths(args.dvc_yaml)
    env = _target_env(params.environments, args)
    if not has_remote():
        message = (
            "no DVC remote is configured, so the model of record cannot be stored where later workflows fetch "
            "it: nothing is promoted or deployed. Configure one: `dvc remote add -d storage <url>` and commit "
            ".dvc/config (or `make init ARGS='--dvc-remote <url>'`); docs/OPERATIONS.md, 'Where artifacts live'"
        )
        _say("record", message)
        _annotate("warning", message)
        _append(args.github_output, "stored=false\n")
        return 0
    _refuse_stale("record")
    digest = modelio.verify(paths["model"], json.loads(Path(paths["manifest"]).read_text()))
    _say("record", f"pushing the data and the model of record ({digest[:12]}) to the DVC remote")
    if subprocess.run([sys.executable, "-m", "dvc", "push"], check=False).returncode != 0:
        raise record.RecordError("dvc push failed: the model of record is not stored")
    committed = ["dvc.lock", *(path for _, path, cached in load_outputs(args.dvc_yaml) if not cached)]
    source = gitutil.resolve("HEAD") or "HEAD"
    commit = record.start(
        env.name, _env_ref(env.name), "HEAD", record.workspace_files(committed),
        f"{record.RECORD_SUBJECT} {digest[:12]} for {env.name}, built from {source[:12]}",
        tuple(path for path in committed if Path(path).is_dir()),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="record-check-") as tmp:
        registry.fetch_model(commit, Path(tmp) / "model", remote_only=True)  # the remote really holds it
    _say("record", f"{record.branch(env.name)} = {commit[:12]}: main {source[:12]} plus the model of record, "
                   "fetched back from the remote and verified")  # fmt: skip
    if mlflow_registry.configured():
        name = params.environments.model_name
        metrics = json.loads(Path(paths["metrics"]).read_text())
        tags = {"git_commit": source, "data_hash": _data_hash("HEAD")}
        version = mlflow_registry.register(name, Path(paths["model"]), digest, tags, metrics, params.mlflow.experiment)
        mlflow_registry.set_alias(name, "candidate", version)
        _say("record", f"MLflow: {name} version {version} (alias candidate)")
    _append(args.github_output, f"stored=true\nmodel_hash={digest}\nrecord={commit}\n")
    return 0


def cmd_build_image(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from pipelines import gitutil, images, record, registry
    from pipelines.config import load_params, load_paths

    paths = load_paths(args.dvc_yaml)
    env = _target_env(load_params(args.params).environments, args)
    rev = record.branch(env.name)
    if gitutil.resolve(rev) is None:
        raise record.RecordError(f"no {rev} here: `python -m pipelines record --env {env.name}` makes it first")
    manifest = record.read_json(rev, paths["manifest"])
    source = record.source_of(rev)
    data_hash = _data_hash(rev)
    with tempfile.TemporaryDirectory(prefix="build-image-") as tmp:
        model_dir = Path(tmp) / "model"
        digest = registry.fetch_model(rev, model_dir)
        labels = {"model_version": f"sha-{digest[:12]}", "model_hash": digest, "git_commit": source,
                  "data_hash": data_hash}  # fmt: skip
        images.lay_out_context(args.out, model_dir, manifest, labels, args.params)
        example = json.loads((model_dir / "serving_input_example.json").read_text())
    engine = images.engine_from_env()
    tag = f"{args.image.lower()}:{source[:12]}"
    _say("build-image", f"building {tag} from {args.out} (model {digest[:12]})")
    engine.build(Path(args.out), tag)
    reference = engine.push(tag)
    images.check_digest(reference)
    _say("build-image", f"pushed {reference}")
    version = _smoke_image(engine, reference, example, digest, args.port)
    _say("build-image", f"smoke test: {version['model_version']} answers its input example")
    release = {"model_hash": digest, "image": reference, "source_commit": source, "data_hash": data_hash}
    commit = record.amend(env.name, {paths["release"]: _json_bytes(release)}, f"Image {reference}")
    _say("build-image", f"{rev} = {commit[:12]} records the image")
    _append(args.github_output, f"image={reference}\n")
    return 0


def _holdout_at(rev: str, directory: Path) -> Any:
    """The validated holdout split recorded at `rev` (an exact output: the same bytes on every machine)."""
    import os

    from dvc.api import DVCFileSystem

    from pipelines import files
    from pipelines.config import load_paths
    from pipelines.registry import RegistryError
    from pipelines.validation import validate

    path = load_paths()["test"]
    try:
        DVCFileSystem(os.getcwd(), rev=rev).get(path, str(directory / "holdout.parquet"))
    except Exception as exc:  # dvc raises many types for a missing cache entry or remote
        raise RegistryError(f"cannot fetch the holdout {path} recorded at {rev} ({type(exc).__name__}); the record "
                            "step pushes it with the model") from None  # fmt: skip
    frame, _ = validate(files.read_frame(directory / "holdout.parquet"))
    return frame


def cmd_promotion_gate(args: argparse.Namespace) -> int:
    import tempfile

    from pipelines import baseline, files, gitutil, modelio, promotion, record, registry
    from pipelines.config import load_params, load_paths
    from pipelines.gate import markdown_table
    from pipelines.report import ReportInputs, build
    from pipelines.tracking import flatten

    params, paths = load_params(args.params), load_paths()
    env = params.environments.next_after(args.after) if args.after else params.environments.get(args.env)
    if env is None:
        _say("promotion-gate", f"{args.after} is the last environment: nothing to promote to")
        return 0
    own = record.branch(env.name)
    candidate_rev = args.candidate or (own if gitutil.resolve(own) else "HEAD")
    env_ref = _env_ref(env.name)
    current = registry.current(env_ref) if env_ref else None
    note = ""
    with tempfile.TemporaryDirectory(prefix="promotion-") as tmp:
        digest = registry.fetch_model(candidate_rev, Path(tmp) / "candidate")
        candidate = modelio.load(Path(tmp) / "candidate")
        holdout = _holdout_at(candidate_rev, Path(tmp))
        champion = None
        if current is not None:
            try:
                registry.fetch_model(current.commit, Path(tmp) / "champion")
                champion = modelio.load(Path(tmp) / "champion")
            except registry.RegistryError as exc:
                note = str(exc)
        result = promotion.compare(candidate, champion, holdout, params.evaluate, params.gate, env,
                                   current.metrics if current else None)  # fmt: skip
    verdict = promotion.verdict_record(env.name, digest, current.model_hash if current else None, result)
    replaces = f" replaces v{current.version} ({current.model_hash[:12]})" if current else " (first model)"
    title = f"Promotion to {env.name}: model {digest[:12]}{replaces}"
    champion_params = baseline.params(current.commit, args.params) if current else None
    report = build(ReportInputs(
        metrics=result.candidate, base_metrics=result.champion,
        params=flatten(params.model_dump(include={"split", "train", "evaluate"})),
        base_params=_stage_params(champion_params), verdict=result.verdict, plots={},
        head=gitutil.resolve(candidate_rev) or candidate_rev, base=current.commit if current else None))  # fmt: skip
    header = f"# {title}\n\nChampion ({env.name} now): {result.champion_source}." + (f" {note}" if note else "")
    text = f"{header}\n\n{report}"
    if args.report:
        files.write_text(args.report, text)
    if args.record:
        recorded = {paths["promotion"]: _json_bytes(verdict)}
        if gitutil.resolve(candidate_rev) == gitutil.resolve(own):
            commit = record.amend(
                env.name, recorded, f"Promotion gate: {'passed' if result.verdict.passed else 'failed'}"
            )
        else:
            source = record.source_of(candidate_rev)
            commit = record.start(env.name, env_ref, candidate_rev, recorded,
                                  f"{record.RECORD_SUBJECT} {digest[:12]} for {env.name}, promoted from "
                                  f"{candidate_rev} ({source[:12]})")  # fmt: skip
        _say("promotion-gate", f"{own} = {commit[:12]} records the verdict")
    print(markdown_table(result.verdict))
    for rule in result.verdict.failures:
        _say("promotion-gate", f"FAIL: {rule.reason}")
    _say("promotion-gate", ("passed" if result.verdict.passed else "failed")
         + f" for model {digest[:12]} (champion: {result.champion_source})")  # fmt: skip
    _append(args.summary, text)
    return 0 if result.verdict.passed or args.report_only else 1


def cmd_promotion_check(args: argparse.Namespace) -> int:
    from pipelines import gitutil, promotion, record, registry
    from pipelines.config import load_params, load_paths

    params, paths = load_params(args.params), load_paths()
    env = params.environments.get(args.env)
    if gitutil.resolve(args.base) is None:
        raise gitutil.GitError(f"base revision {args.base!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    manifest = record.read_json("HEAD", paths["manifest"]) or {}
    earlier = [(r.version, r.model_hash, r.image) for r in registry.history(args.base)]
    problems, accepted = promotion.check_recorded(
        env.name,
        str(manifest.get("content_hash", "")),
        record.read_json("HEAD", paths["release"]),
        record.read_json("HEAD", paths["promotion"]),
        earlier,
    )
    for problem in problems:
        _say("promotion-check", f"FAIL: {problem}")
        _annotate("error", problem)
    _say("promotion-check", accepted if not problems else f"failed: {len(problems)} problem(s)")
    _append(args.summary, f"### Promotion check ({env.name})\n\n"
            + ("".join(f"- ❌ {p}\n" for p in problems) or f"✅ {accepted}\n"))  # fmt: skip
    return 1 if problems else 0


def cmd_promote(args: argparse.Namespace) -> int:
    import subprocess

    from pipelines import gitutil, record, registry
    from pipelines.config import load_params, load_paths
    from pipelines.github import GhCli
    from pipelines.promotion import upsert_pull_request

    envs, paths = load_params(args.params).environments, load_paths()
    env = envs.next_after(args.after) if args.after else envs.get(args.env)
    if env is None:
        _say("promote", f"{args.after} is the last environment: nothing to promote to")
        return 0
    head = record.branch(env.name)
    if gitutil.resolve(head) is None:
        raise record.RecordError(f"no {head} record here: the record (main) or promotion-gate --record (an "
                                 "environment) step makes it")  # fmt: skip
    release = record.read_json(head, paths["release"]) or {}
    env_ref = _env_ref(env.name)
    now = registry.current(env_ref) if env_ref else None
    if now is not None and now.model_hash == release.get("model_hash") and now.image == release.get("image"):
        _say("promote", f"{env.name} already runs model {now.model_hash[:12]} in {now.image}: nothing to promote")
        return 0
    body = (
        Path(args.body).read_text()
        if args.body
        else f"Promote model {str(release.get('model_hash'))[:12]} to {env.name}."
    )
    title = body.splitlines()[0].lstrip("# ").strip() if body.startswith("# ") else f"Promote to {env.name}"
    if args.dry_run:
        print(f"would push {head} and open or update the pull request {head} -> {env.name}: {title}")
        return 0
    subprocess.run(["git", "push", "--quiet", "--force", "origin", f"refs/heads/{head}:refs/heads/{head}"],
                   check=True)  # fmt: skip
    _say("promote", f"pushed {head}")
    if not args.repo:
        _say("promote", f"no --repo (GITHUB_REPOSITORY): open the pull request {head} -> {env.name} yourself")
        return 0
    number, created = upsert_pull_request(GhCli(), args.repo, head, env.name, title, body)
    _say("promote", f"{'opened' if created else 'updated'} pull request #{number} ({head} -> {env.name})")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from pipelines import gitutil, images, mlflow_registry, record, registry
    from pipelines.config import load_params, load_paths

    params, paths = load_params(args.params), load_paths()
    env = params.environments.get(args.env)
    release = record.read_json("HEAD", paths["release"])
    manifest = record.read_json("HEAD", paths["manifest"]) or {}
    if release is None:
        message = (f"{env.name} at {(gitutil.resolve('HEAD') or '')[:12]} has no {paths['release']}: no model was "
                   "ever promoted here (the promotion pull request brings one); nothing to deploy")  # fmt: skip
        _say("deploy", message)
        _annotate("warning", message)
        return 0
    if release.get("model_hash") != manifest.get("content_hash"):
        raise record.RecordError(f"{paths['release']} names model {str(release.get('model_hash'))[:12]} but "
                                 f"{paths['manifest']} names {str(manifest.get('content_hash'))[:12]}: the branch "
                                 "does not describe one release")  # fmt: skip
    images.check_digest(str(release.get("image")))
    with tempfile.TemporaryDirectory(prefix=f"deploy-{env.name}-") as tmp:
        model_dir = Path(tmp) / "model"
        digest = registry.fetch_model("HEAD", model_dir, remote_only=True)
        _say("deploy", f"{env.name}: model {digest[:12]} fetched from the DVC remote and verified against git")
        engine = images.engine_from_env()
        engine.pull(release["image"])
        example = json.loads((model_dir / "serving_input_example.json").read_text())
        version = _smoke_image(engine, release["image"], example, digest, args.port)
        _say("deploy", f"{release['image']} answers its input example as model {version['model_hash'][:12]}")
        now = registry.current("HEAD")
        label = f"{env.name}-v{now.version}" if now else f"sha-{digest[:12]}"
        if mlflow_registry.configured():
            name = params.environments.model_name
            metrics = json.loads(gitutil.show("HEAD", paths["metrics"]) or "{}")
            tags = {"git_commit": str(release.get("source_commit")), "data_hash": str(release.get("data_hash"))}
            mlflow_version = mlflow_registry.register(name, model_dir, digest, tags, metrics, params.mlflow.experiment)
            mlflow_registry.set_alias(name, env.name, mlflow_version)
            _say("deploy", f"MLflow: models:/{name}@{env.name} -> version {mlflow_version}")
    _append(args.github_output, f"image={release['image']}\nmodel_hash={digest}\nmodel_version={label}\n")
    _say("deploy", f"{env.name} runs {label}: {release['image']}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from pipelines import images, record, registry, smoke
    from pipelines.config import load_paths

    manifest = record.read_json(args.rev, load_paths()["manifest"]) or {}
    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
        digest = registry.fetch_model(args.rev, Path(tmp) / "model")
        example = json.loads((Path(tmp) / "model" / "serving_input_example.json").read_text())
    if digest != manifest.get("content_hash"):
        raise smoke.SmokeError(f"{args.rev}: the fetched model is {digest[:12]}, the manifest names another")
    if args.url:
        version = smoke.check(args.url, example, digest)
    else:
        version = _smoke_image(images.engine_from_env(), args.image, example, digest, args.port)
    _say("smoke", f"ok: {version['model_version']} ({version['model_hash'][:12]}) answers its input example, "
                  f"the model {args.rev} records")  # fmt: skip
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    import subprocess
    import tempfile

    from pipelines import registry
    from pipelines.config import load_params
    from pipelines.github import GhCli
    from pipelines.promotion import upsert_pull_request

    env = load_params(args.params).environments.get(args.env)
    has_origin = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True).returncode == 0
    if has_origin:
        subprocess.run(["git", "fetch", "--quiet", "origin", env.name], check=True)
    ref = f"origin/{env.name}" if has_origin else env.name
    now = registry.current(ref)
    target = registry.rollback_target(ref, args.to)
    assert now is not None
    message = (f"Roll back {env.name} to v{target.version} ({target.model_hash[:12]}) from v{now.version} "
               f"({now.model_hash[:12]})")  # fmt: skip
    policy = args.policy or env.rollback
    with tempfile.TemporaryDirectory(prefix="rollback-") as tmp:
        work = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--quiet", "--detach", str(work), ref], check=True)
        try:
            registry.restore_tree(target.commit, message, cwd=work)
            if not has_origin:
                subprocess.run(["git", "update-ref", f"refs/heads/{env.name}", "HEAD"], cwd=work, check=True)
            elif policy == "commit":
                subprocess.run(
                    ["git", "push", "--quiet", "origin", f"HEAD:refs/heads/{env.name}"], cwd=work, check=True
                )
            else:
                branch = f"rollback/{env.name}-v{target.version}"
                subprocess.run(["git", "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}"], cwd=work,
                               check=True)  # fmt: skip
                if args.repo:
                    number, _ = upsert_pull_request(GhCli(), args.repo, branch, env.name, message, message)
                    _say("rollback", f"opened pull request #{number}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(work)], check=False)
    _say("rollback", message + (f" ({policy})" if has_origin else " (local branch)"))
    return 0


def _live_metrics(location: str, params: Any) -> tuple[dict[str, float], list[str]]:
    """Metrics of the deployed model on labelled live rows, and the gate floors they break."""
    import fsspec
    import pandas as pd

    from pipelines import modelio
    from pipelines.evaluate import model_output, score
    from pipelines.gate import check
    from pipelines.schema import FEATURES, TARGET
    from pipelines.validation import validate

    with fsspec.open(location, "rb") as handle:
        frame = pd.read_parquet(handle) if location.endswith(".parquet") else pd.read_csv(handle)
    labelled, _ = validate(frame)
    model_dir, _ = _workspace_model()
    model = modelio.load(model_dir)
    output = model_output(model, labelled[FEATURES])
    live = score(labelled[TARGET].to_numpy(), output, classes=getattr(model, "classes_", None),
                 threshold=params.evaluate.threshold)  # fmt: skip
    verdict = check(live, None, params.gate)
    _say(
        "monitor",
        f"live metrics on {len(labelled)} labelled rows: " + ", ".join(f"{k}={v:.4f}" for k, v in live.items()),
    )
    return live, [rule.reason for rule in verdict.failures]


def cmd_monitor(args: argparse.Namespace) -> int:
    import json
    import time as clock

    from pipelines import files
    from pipelines.config import load_params, load_paths
    from pipelines.monitor import compare, list_logs, markdown, read_logs

    params = load_params(args.params)
    settings = params.monitor
    location = args.logs or settings.logs or params.serve.log.directory
    reference = json.loads(Path(args.reference or load_paths()["reference"]).read_text())
    since = clock.time() - settings.window_hours * 3600
    window = f"the last {settings.window_hours:g} hours, from {location}"
    paths = list_logs(location)
    _say("monitor", f"reading {len(paths)} log file(s) from {location}")
    live = read_logs(paths, since, settings.max_rows)
    verdict: dict[str, Any]
    if len(live) < settings.min_rows:
        verdict = {"rows": len(live), "drift": False, "drifted_features": [], "status": "not enough data",
                   "min_rows": settings.min_rows}  # fmt: skip
        text = f"## Not enough data\n\n{len(live)} logged rows ({window}); at least {settings.min_rows} are needed.\n"
    else:
        report = compare(live, reference, settings.psi_threshold, settings.ks_alpha, settings.ks_min_statistic,
                         settings.missing_rate_change)  # fmt: skip
        verdict = {**report.to_dict(), "status": "drift" if report.drifted else "ok"}
        text = markdown(report, window)
    if args.labelled:
        live_metrics, failures = _live_metrics(args.labelled, params)
        verdict["live_metrics"], verdict["below_floors"] = live_metrics, failures
        rows = "\n".join(f"| `{k}` | {v:.4f} | {params.gate.floors.get(k, float('nan')):.4f} |"  # type: ignore[call-overload]
                         for k, v in live_metrics.items())  # fmt: skip
        text += (f"\n### Live metrics on labelled traffic\n\n| metric | live | floor |\n|---|---|---|\n{rows}\n\n"
                 + ("".join(f"- ⚠️ {f}\n" for f in failures) or "All gate floors hold.\n"))  # fmt: skip
    verdict["alert"] = bool(verdict["drift"] or verdict.get("below_floors"))
    files.write_text(args.out, text)
    files.write_json(args.verdict, verdict)
    drifted = ", ".join(str(name) for name in verdict["drifted_features"]) or "none"
    _say("monitor", f"{verdict['status']}: {len(live)} rows; drifted: {drifted}")
    drift, alert = ("true" if verdict[key] else "false" for key in ("drift", "alert"))
    _append(args.github_output, f"drift={drift}\nalert={alert}\n")
    return 0


def _ingest(params: Any, need_remote_for_new_data: bool = False) -> Any:
    from pipelines import ingest
    from pipelines.data import DataError, has_remote, tracked_path

    settings = params.ingest
    if settings.source:
        batches = ingest.from_files(settings.source)
    elif settings.sql_url_env and settings.sql_query:
        batches = ingest.from_sql(settings.sql_url_env, settings.sql_query)
    else:
        raise ingest.IngestError("no source configured: set ingest.source, or ingest.sql_url_env and sql_query")
    data_dir, _ = tracked_path("data.dvc")
    if need_remote_for_new_data and ingest.pending(batches, data_dir) and not has_remote():
        raise DataError(
            "there is new data, but no DVC remote is configured, so a pushed branch would point at data that "
            "exists only here: add one (`dvc remote add -d storage <url>`, commit .dvc/config) and run again"
        )
    outcome = ingest.ingest(batches, data_dir, Path(settings.quarantine))
    _say("ingest", f"{len(batches)} batch(es): {len(outcome.added)} new ({outcome.rows} rows), "
         f"{len(outcome.known)} already ingested, {len(outcome.quarantined)} quarantined")  # fmt: skip
    for line in outcome.quarantined:
        _say("ingest", f"quarantined {line}")
    if outcome.added:
        import subprocess

        subprocess.run([sys.executable, "-m", "dvc", "add", "--quiet", str(data_dir)], check=True)
        _say("ingest", f"updated data.dvc ({', '.join(outcome.added)})")
    return outcome


def cmd_ingest(args: argparse.Namespace) -> int:
    from pipelines.config import load_params

    _ingest(load_params(args.params))
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    import datetime
    import subprocess

    from pipelines import gitutil
    from pipelines.config import load_params
    from pipelines.data import has_remote

    params = load_params(args.params)
    outcome = _ingest(params, need_remote_for_new_data=args.push)
    if subprocess.run([sys.executable, "-m", "dvc", "repro"], check=False).returncode != 0:
        _say("retrain", "dvc repro failed")
        return 1
    new_data = bool(outcome.added)
    # Without new data, "changed" means the outputs no longer reproduce the committed ones within the
    # tolerances; model bytes that differ on this runner's CPU while the numbers agree are no change.
    reproduced = None if new_data else _reproduction("HEAD", args.params, "dvc.yaml")
    summary = ""
    if reproduced is not None and reproduced.ok:
        summary = "Nothing to do: no new data, and the pipeline reproduces the committed outputs" + (
            " (this runner's model bytes differ; its numbers agree)." if reproduced.equivalent else "."
        )
        _say("retrain", summary)
    else:
        base = gitutil.commit().removesuffix("-dirty")
        branch = f"retrain/{datetime.datetime.now(datetime.UTC):%Y-%m-%d-%H%M}"
        subprocess.run(["git", "switch", "--quiet", "-c", branch], check=True)
        subprocess.run(["git", "add", "--update"], check=True)
        message = (
            f"Retrain on new data: {len(outcome.added)} batch(es), {outcome.rows} rows"
            if new_data
            else f"Retrain: the committed outputs no longer reproduce ({reproduced.headline() if reproduced else ''})"
        )
        subprocess.run(["git", "commit", "--quiet", "-m", message], check=True)
        summary = f"{message}: branch `{branch}`."
        _say("retrain", summary)
        if has_remote():
            subprocess.run([sys.executable, "-m", "dvc", "push"], check=True)
        if args.push:
            subprocess.run(["git", "push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], check=True)
            _say("retrain", f"pushed {branch}")
            if args.repo:
                from pipelines.github import GhCli
                from pipelines.promotion import upsert_pull_request

                report = Path("reports/report.md")
                subprocess.run([sys.executable, "-m", "pipelines", "report", "--base", base, "--out", str(report)],
                               check=True)  # fmt: skip
                number, _ = upsert_pull_request(GhCli(), args.repo, branch, "main", message, report.read_text())
                _say("retrain", f"opened pull request #{number}")
    _append(args.summary, f"### Retraining\n\n{summary}\n")
    return 0


def cmd_alert(args: argparse.Namespace) -> int:
    import json

    from pipelines.github import GhCli, dispatch_workflow, upsert_drift_issue

    verdict = json.loads(Path(args.verdict).read_text())
    if not verdict.get("alert", verdict.get("drift")):
        _say("alert", "no drift and no floor broken: nothing to report")
        return 0
    parts = []
    if verdict.get("drifted_features"):
        parts.append("input drift: " + ", ".join(verdict["drifted_features"]))
    if verdict.get("below_floors"):
        parts.append("live metrics below the gate floors")
    title = ("Monitoring: " + "; ".join(parts))[:200]
    body = Path(args.report).read_text() + "\n\n_Opened by the monitor workflow; a retraining run was dispatched._\n"
    github = GhCli()
    number, created = upsert_drift_issue(github, args.repo, title, body)
    _say("alert", f"{'opened' if created else 'updated'} issue #{number}")
    if args.retrain_workflow:
        dispatch_workflow(github, args.repo, args.retrain_workflow, args.ref)
        _say("alert", f"dispatched {args.retrain_workflow} on {args.ref}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str, params: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if params:
            p.add_argument("--params", default="params.yaml", help="parameters file (default: %(default)s)")
        return p

    p = add(
        "bootstrap", cmd_bootstrap, "make the tracked data present: dvc pull, or the embedded default", params=False
    )
    p.add_argument("--dvc-file", default="data.dvc", help="the .dvc file that tracks the raw data")

    p = add("validate", cmd_validate, "check the raw data against the schema (stage 1)")
    p.add_argument("--data", required=True, help="raw data directory or file")
    p.add_argument("--out", required=True, help="validated, typed data (Parquet)")
    p.add_argument("--report", required=True, help="validation report (JSON), written pass or fail")

    p = add("split", cmd_split, "stratified, seeded train/test split (stage 2)")
    p.add_argument("--input", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)

    p = add("train", cmd_train, "fit the model and save it in MLflow format (stage 3)")
    p.add_argument("--train", required=True)
    p.add_argument("--model", required=True, help="output model directory")
    p.add_argument("--manifest", required=True, help="output JSON with the model's content hash and file hashes")
    p.add_argument("--reference", required=True, help="output JSON profile of the training inputs (drift reference)")

    p = add("evaluate", cmd_evaluate, "metrics, plots and figures on the holdout set; log to MLflow (stage 4)")
    p.add_argument("--model", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--metrics", required=True, help="metrics JSON")
    p.add_argument("--plots", required=True, help="directory for plot data (dvc plots)")
    p.add_argument("--figures", required=True, help="directory for PNG figures")
    p.add_argument("--predictions", required=True, help="CSV of the model's outputs on recorded holdout rows")
    p.add_argument("--data-dvc", default="data.dvc", help="the .dvc file whose hash tags the MLflow run")
    p.add_argument("--no-track", dest="track", action="store_false", help="skip MLflow logging")

    def comparison(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base", help="git revision to compare with (its committed metrics.json is the baseline)")
        p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the pipeline's paths are defined")

    p = add("gate", cmd_gate, "check metrics against the floors and the base; exit 1 naming each failed rule")
    comparison(p)
    p.add_argument("--reproduction", help="also fail unless this `reproduce --verdict` file says the outputs reproduce")
    p.add_argument("--summary", help="append the verdict as markdown to this file (e.g. $GITHUB_STEP_SUMMARY)")

    p = add("report", cmd_report, "write the markdown report for a pull request")
    comparison(p)
    p.add_argument("--reproduction", help="a `reproduce --verdict` file to show in the report")
    p.add_argument("--out", default="reports/report.md")
    p.add_argument("--data-dvc", default="data.dvc")
    p.add_argument("--run-url", help="link for the figures artifact (default: this GitHub Actions run)")
    p.add_argument(
        "--images",
        choices=["mermaid", "publish"],
        default="mermaid",
        help="mermaid: charts drawn in the comment (default); publish: link PNGs for cml --publish",
    )
    p.add_argument("--pr-number", type=int, help="also write pr.json (number, head sha) beside the report")
    p.add_argument("--head-sha", help="the pull request's head commit, recorded in pr.json")

    p = add("comment", cmd_comment, "post a report artifact on its pull request (workflow_run side)", params=False)
    p.add_argument("--artifact", required=True, help="directory holding report.md and pr.json")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="owner/name")
    p.add_argument("--head-sha", required=True, help="head commit of the run that made the artifact (trusted)")

    p = add(
        "protect", cmd_protect, "apply branch protection from the settings file through the GitHub API", params=False
    )
    p.add_argument(
        "--repo", default=os.environ.get("GITHUB_REPOSITORY"), required=not os.environ.get("GITHUB_REPOSITORY")
    )
    p.add_argument("--settings", default=".github/protection.yml")
    p.add_argument("--dry-run", action="store_true", help="print the API calls instead of making them")

    p = add("setup", cmd_setup, "one-time GitHub setup: environment branches, Environments, variables, protection",
            params=False)  # fmt: skip
    p.add_argument(
        "--repo", default=os.environ.get("GITHUB_REPOSITORY"), required=not os.environ.get("GITHUB_REPOSITORY")
    )
    p.add_argument("--settings", default=".github/protection.yml")
    p.add_argument("--main", default="main", help="the branch the environment branches start from")
    p.add_argument("--dry-run", action="store_true", help="print the exact gh api calls instead of making them")
    p.add_argument("--allow-no-reviewers", action="store_true", help="let production deploy without approval")

    p = add("init", cmd_init, "make this fresh copy of the template your project (names, environments, your data)",
            params=False)  # fmt: skip
    p.add_argument("--name", help="project name, used for the MLflow experiment (default: the directory name)")
    p.add_argument("--model-name", help="registered model name (environments.model_name; default: the name)")
    p.add_argument("--image", help="container image without tag, e.g. ghcr.io/acme/churn (default: ghcr.io/<repo>)")
    p.add_argument("--environments", help="the two environment branch names, e.g. staging,production")
    p.add_argument("--reviewers", help="comma-separated GitHub logins or org/team slugs who approve production deploys")
    p.add_argument("--dvc-remote", help="URL of the default DVC remote, e.g. s3://bucket/dvc")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI, set as a repository variable by `setup`")
    p.add_argument("--dataset", help="your data: a .csv or .parquet file (replaces the embedded example)")
    p.add_argument("--target", help="the column to predict (with --dataset)")
    p.add_argument("--task", choices=["binary", "multiclass", "regression"], help="override the inferred task")

    p = add("serve", cmd_serve, "serve the model over HTTP (MLflow-compatible /invocations, health, metrics)")
    p.add_argument("--env", help="serve the model this environment runs (its branch's manifest, via dvc.api)")
    p.add_argument("--model", help="model directory (default: from dvc.yaml)")
    p.add_argument("--manifest", help="model manifest with the hashes to verify (default: from dvc.yaml)")
    p.add_argument("--release", help="JSON with model_version, git_commit, data_hash (default: from git)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--log-dir", help="prediction log directory (default: serve.log.directory)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add("image-context", cmd_image_context, "lay out the serving image's build context (model verified)")
    p.add_argument("--out", default="build/image")
    p.add_argument("--rev", help="the model recorded at this revision (default: the workspace's model)")
    p.add_argument("--model-version", help="version label for /version (default: sha-<model hash>)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add("registry", cmd_registry, "what each environment runs, from git alone (version, hashes, metrics)")
    p.add_argument("--history", metavar="BRANCH", help="list every release of one environment branch")
    p.add_argument("--json", action="store_true")

    p = add("reproduce", cmd_reproduce, "run the pipeline and check every output agrees with the committed ones "
            "within params.yaml's reproduce: tolerances")  # fmt: skip
    p.add_argument("--rev", default="HEAD", help="the revision whose committed outputs are the reference")
    p.add_argument("--no-run", dest="run", action="store_false", help="compare only (after a `dvc repro` of your own)")
    p.add_argument("--force", action="store_true", help="re-run every stage (dvc repro --force), cached or not")
    p.add_argument("--advisory", action="store_true", help="exit 0 even when the outputs do not reproduce")
    p.add_argument("--verdict", help="write the verdict as JSON here (for `report` and `gate --reproduction`)")
    p.add_argument("--summary", help="append the verdict as markdown to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add("record", cmd_record, "after a merge to main: store the model of record (DVC remote, MLflow) and "
            "commit it onto promote/<env>")  # fmt: skip
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="the environment the record is for (its promotion pull request's base)")
    which.add_argument("--after", help="the environment promoted from this one (main: the first)")
    p.add_argument("--github-output", help="append stored=true|false, model_hash, record to this file")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add("build-image", cmd_build_image, "build and push the serving image of the record on promote/<env> once; "
            "smoke-test it by digest and record the digest")  # fmt: skip
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="the environment whose record gets the image")
    which.add_argument("--after", help="the environment promoted from this one (main: the first)")
    p.add_argument("--image", required=True, help="registry/name without tag, e.g. ghcr.io/acme/churn")
    p.add_argument("--out", default="build/image", help="where the build context is laid out")
    p.add_argument("--port", type=int, default=18080, help="127.0.0.1 port for the smoke test")
    p.add_argument("--github-output", help="append image=<name@digest> to this file ($GITHUB_OUTPUT)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add("promotion-gate", cmd_promotion_gate, "score the recorded candidate against the environment's model on "
            "the same holdout; with --record, commit the verdict onto promote/<env>")  # fmt: skip
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="the environment promoted into")
    which.add_argument("--after", help="the environment that follows this one (if any)")
    p.add_argument("--candidate", help="revision recording the candidate (default: promote/<env>, else HEAD)")
    p.add_argument("--record", action="store_true", help="commit the verdict onto promote/<env>")
    p.add_argument("--report", help="write the champion/challenger report (markdown) here")
    p.add_argument("--summary", help="append the report to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--report-only", action="store_true", help="exit 0 even when the gate fails")

    p = add("promotion-check", cmd_promotion_check, "on a pull request into an environment: the recorded verdict, "
            "release and model agree, or it returns to an earlier release")  # fmt: skip
    p.add_argument("--env", required=True)
    p.add_argument("--base", required=True, help="the environment branch's commit the pull request targets")
    p.add_argument("--summary", help="append the result to this file ($GITHUB_STEP_SUMMARY)")

    p = add("promote", cmd_promote, "push promote/<env> and open or update its one pull request into <env>")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--env", help="the environment to promote into")
    which.add_argument("--after", help="promote into the environment that follows this one (if any)")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="owner/name (no pull request without)")
    p.add_argument("--body", help="markdown file for the pull request body (e.g. the promotion-gate report)")
    p.add_argument("--dry-run", action="store_true")

    p = add("deploy", cmd_deploy, "on an environment branch: check the release it records (model from the DVC "
            "remote, image by digest, smoke test) and move the MLflow alias")  # fmt: skip
    p.add_argument("--env", required=True)
    p.add_argument("--port", type=int, default=18080, help="127.0.0.1 port for the smoke test")
    p.add_argument("--github-output", help="append image, model_hash and model_version to this file ($GITHUB_OUTPUT)")

    p = add("smoke", cmd_smoke, "smoke-test a running service (--url) or an image (--image, by digest) against the "
            "model a revision records")  # fmt: skip
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url")
    target.add_argument("--image")
    p.add_argument("--rev", default="HEAD", help="the revision whose manifest names the expected model")
    p.add_argument("--port", type=int, default=18080)

    p = add("rollback", cmd_rollback, "revert an environment branch to an earlier model (commit or PR per policy)")
    p.add_argument("env")
    p.add_argument("--to", type=lambda v: int(v) if v else None, help="version to return to (default: the previous)")
    p.add_argument("--policy", choices=["commit", "pull_request"], help="override the environment's policy")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="owner/name, to open the rollback PR")

    p = add("monitor", cmd_monitor, "compare logged live inputs with the training reference (PSI, KS, missing rates)")
    p.add_argument("--logs", help="prediction-log directory or fsspec URL (default: monitor.logs)")
    p.add_argument("--reference", help="training-input profile (default: from dvc.yaml)")
    p.add_argument("--out", default="reports/monitor.md")
    p.add_argument("--verdict", default="reports/drift.json")
    p.add_argument(
        "--labelled",
        help="labelled live rows (features + target; CSV/Parquet, path or fsspec URL): "
        "adds live metrics against the gate floors",
    )
    p.add_argument("--github-output", help="append drift= and alert=true|false to this file ($GITHUB_OUTPUT)")

    p = add("ingest", cmd_ingest, "fetch new batches from ingest: in params.yaml, validate, append, dvc add")

    p = add("retrain", cmd_retrain, "ingest, dvc repro, and if data or model changed: a retrain/<date> branch")
    p.add_argument("--push", action="store_true", help="push the branch to origin")
    p.add_argument("--repo", help="owner/name: also open the pull request (needs GH_TOKEN)")
    p.add_argument("--summary", help="append the outcome to this file ($GITHUB_STEP_SUMMARY)")

    p = add("alert", cmd_alert, "on drift: open or update the one drift issue and dispatch retraining", params=False)
    p.add_argument("--verdict", default="reports/drift.json")
    p.add_argument("--report", default="reports/monitor.md")
    p.add_argument(
        "--repo", default=os.environ.get("GITHUB_REPOSITORY"), required=not os.environ.get("GITHUB_REPOSITORY")
    )
    p.add_argument("--retrain-workflow", default="retrain.yml", help="workflow file to dispatch ('' for none)")
    p.add_argument("--ref", default="main")

    p = add("changed", cmd_changed, "list changed files that need the pipeline re-run (ci.pipeline_paths)")
    p.add_argument("--base", required=True, help="git revision to diff against")
    p.add_argument("--github-output", help="append pipeline=true|false to this file ($GITHUB_OUTPUT)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; known failures print one clear message and exit 1, never a traceback."""
    # Telemetry off for anything these commands start, unless the user opted in explicitly.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    args = _parser().parse_args(argv)
    from pipelines.errors import PipelineError

    try:
        return int(args.func(args))
    except (PipelineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
