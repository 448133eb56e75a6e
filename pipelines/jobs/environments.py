"""Environments: the promotion gate (scoring, in main.yml and deploy.yml), its check on a pull request
into an environment (.github/workflows/promotion-gate.yml), rollback (rollback.yml), and what runs
where (`registry`, from git alone)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.adapters import dvc, git, overlays, record
from pipelines.adapters.github import GhCli, upsert_pull_request
from pipelines.adapters.params import load_contract, load_params, load_paths, stage_sections
from pipelines.commands import Subparsers, add, add_env_choice, add_repo, annotate, append, json_bytes, say, target_env
from pipelines.core.params import flatten, stage_params
from pipelines.jobs.live import promotion_section

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa


def _holdout_at(rev: str, directory: Path, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """The validated holdout split recorded at `rev` (an exact output: the same bytes on every machine)."""
    from pipelines.adapters import files
    from pipelines.adapters.releases import RegistryError
    from pipelines.core.validation import validate

    path = load_paths()["test"]
    try:
        dvc.get_at(rev, path, directory / "holdout.parquet")
    except Exception as exc:  # dvc raises many types for a missing cache entry or remote
        raise RegistryError(
            f"cannot fetch the holdout {path} recorded at {rev} ({type(exc).__name__}); the record "
            "step pushes it with the model"
        ) from None
    frame, _ = validate(files.read_frame(directory / "holdout.parquet"), schema)
    return frame


def cmd_promotion_gate(args: argparse.Namespace) -> int:
    from pipelines.adapters import modelio, releases, revisions
    from pipelines.core import promotion
    from pipelines.core.reports import ReportInputs, build, gate_table, promotion_report

    params, paths, contract = load_params(args.params), load_paths(), load_contract()
    sections = stage_sections()
    env = target_env(params.environments, args)
    if env is None:
        say("promotion-gate", f"{args.after} is the last environment: nothing to promote to")
        return 0
    own = record.branch(env.name)
    candidate_rev = args.candidate or (own if git.resolve(own) else "HEAD")
    branch = releases.env_ref(env.name)
    current = releases.current(branch) if branch else None
    note = ""
    with tempfile.TemporaryDirectory(prefix="promotion-") as tmp:
        digest = releases.fetch_model(candidate_rev, Path(tmp) / "candidate")
        candidate = modelio.load(Path(tmp) / "candidate")
        holdout = _holdout_at(candidate_rev, Path(tmp), contract.raw)
        champion = None
        if current is not None:
            try:
                releases.fetch_model(current.commit, Path(tmp) / "champion")
                champion = modelio.load(Path(tmp) / "champion")
            except releases.RegistryError as exc:
                note = str(exc)
        result = promotion.judge_candidate(
            candidate,
            champion,
            holdout,
            params.evaluate,
            params.gate,
            env,
            contract,
            current.metrics if current else None,
        )
    verdict = promotion.verdict_document(env.name, digest, current.model_hash if current else None, result)
    replaces = f" replaces v{current.version} ({current.model_hash[:12]})" if current else " (first model)"
    report = build(
        ReportInputs(
            metrics=result.candidate,
            base_metrics=result.champion,
            params=flatten(params.model_dump(include=set(sections))),
            base_params=stage_params(revisions.params(current.commit, args.params), sections) if current else None,
            verdict=result.verdict,
            plots={},
            head=git.resolve(candidate_rev) or candidate_rev,
            base=current.commit if current else None,
            task=contract.task,
        )
    )
    text = promotion_report(
        f"Promotion to {env.name}: model {digest[:12]}{replaces}", env.name, result.champion_source, note, report
    )

    text += promotion_section(params, digest, current.model_hash if current else None)
    if args.report:
        from pipelines.adapters import files

        files.write_text(args.report, text)
    if args.record:
        recorded = {paths["promotion"]: json_bytes(verdict)}
        outcome = "passed" if result.verdict.passed else "failed"
        if git.resolve(candidate_rev) == git.resolve(own):
            commit = record.amend(env.name, recorded, f"Promotion gate: {outcome}")
        else:
            source = record.source_of(candidate_rev)
            image = str((record.read_json(candidate_rev, paths["release"]) or {}).get("image", ""))
            if image:  # the same image, by digest, declared in this environment's overlay
                recorded |= releases.release_overlay(env.name, candidate_rev, image, digest)
            commit = record.start(
                env.name,
                branch,
                candidate_rev,
                recorded,
                f"{record.RECORD_SUBJECT} {digest[:12]} for {env.name}, promoted from {candidate_rev} ({source[:12]})",
            )
        say("promotion-gate", f"{own} = {commit[:12]} records the verdict ({outcome})")
    print(gate_table(result.verdict))
    for rule in result.verdict.failures:
        say("promotion-gate", f"FAIL: {rule.reason}")
    outcome = "passed" if result.verdict.passed else "failed"
    say("promotion-gate", f"{outcome} for model {digest[:12]} (champion: {result.champion_source})")
    append(args.summary, text)
    return 0 if result.verdict.passed or args.report_only else 1


def cmd_promotion_check(args: argparse.Namespace) -> int:
    from pipelines.adapters import releases
    from pipelines.core import promotion

    params, paths = load_params(args.params), load_paths()
    env = params.environments.get(args.env)
    if git.resolve(args.base) is None:
        raise git.GitError(f"base revision {args.base!r} not found (fetch it, e.g. checkout with fetch-depth: 0)")
    manifest = record.read_json("HEAD", paths["manifest"]) or {}
    earlier = [(r.version, r.model_hash, r.image) for r in releases.history(args.base)]
    problems, accepted = promotion.check_recorded(
        env.name,
        str(manifest.get("content_hash", "")),
        record.read_json("HEAD", paths["release"]),
        record.read_json("HEAD", paths["promotion"]),
        earlier,
    )
    for problem in problems:
        say("promotion-check", f"FAIL: {problem}")
        annotate("error", problem)
    say("promotion-check", accepted if not problems else f"failed: {len(problems)} problem(s)")
    lines = "".join(f"- ❌ {p}\n" for p in problems) or f"✅ {accepted}\n"
    append(args.summary, f"### Promotion check ({env.name})\n\n{lines}")
    return 1 if problems else 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from pipelines.adapters import releases

    env = load_params(args.params).environments.get(args.env)
    has_origin = git.has_origin()
    if has_origin:
        try:
            git.fetch(env.name)
        except git.GitError:
            raise releases.RegistryError(
                f"origin has no branch {env.name!r}: nothing was ever promoted there"
            ) from None
    ref = f"origin/{env.name}" if has_origin else env.name
    now = releases.current(ref)
    target = releases.rollback_target(ref, args.to)  # raises when there is no release to return to
    if now is None:
        raise releases.RegistryError(f"{env.name} has no release to roll back from")
    message = (
        f"Roll back {env.name} to v{target.version} ({target.model_hash[:12]}) from v{now.version} "
        f"({now.model_hash[:12]})"
    )
    policy = args.policy or env.rollback
    with tempfile.TemporaryDirectory(prefix="rollback-") as tmp:
        work = Path(tmp) / "tree"
        git.worktree_add(work, ref)
        try:
            git.restore_tree(target.commit, message, cwd=work)
            if not has_origin:
                git.set_branch(env.name, "HEAD", cwd=work)
            elif policy == "commit":
                git.push("HEAD", env.name, cwd=work)
            else:
                branch = f"rollback/{env.name}-v{target.version}"
                git.push("HEAD", branch, force=True, cwd=work)
                if args.repo:
                    number, _ = upsert_pull_request(GhCli(), args.repo, branch, env.name, message, message)
                    say("rollback", f"opened pull request #{number}")
        finally:
            git.worktree_remove(work)
    say("rollback", message + (f" ({policy})" if has_origin else " (local branch)"))
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    from pipelines.adapters import releases
    from pipelines.core.reports import registry_table

    envs = load_params(args.params).environments
    if args.history:
        rows = [r.to_dict() for r in releases.history(args.history)]
        lines = [
            f"v{r['version']}  {r['model_hash'][:12]}  {r['commit'][:10]}  {r['promoted_at']}  {r['subject']}"
            for r in rows
        ]
        print(json.dumps(rows, indent=2) if args.json else "\n".join(lines))
        return 0

    table: dict[str, Any] = {}
    declared: dict[str, str | None] = {}
    for env in envs.order:
        try:
            table[env.name] = releases.current(env.name)
        except releases.RegistryError:
            table[env.name] = None
        ref = git.branch_ref(env.name)
        overlay = overlays.declared_at(ref, env.name) if git.resolve(ref) else None
        declared[env.name] = overlay["image"] if overlay else None
    manifest = json.loads(git.show(git.branch_ref("main"), load_paths()["manifest"]) or "null")
    main_hash = manifest["content_hash"] if manifest else None
    if args.json:
        out = {"main": {"model_hash": main_hash} if main_hash else None}
        by_env: dict[str, Any] = {k: (v.to_dict() if v else None) for k, v in table.items()}
        for name, entry in by_env.items():
            if entry is not None:
                entry["overlay_image"] = declared[name]
        print(json.dumps(out | by_env, indent=2))
        return 0
    print(registry_table(list(table.items()), main_hash, load_contract().task, declared))
    if args.live:  # the monitor's verdict: each environment's holdout metrics beside its live ones
        from pipelines.core.monitor_report import offline_live_table

        print(offline_live_table(json.loads(Path(args.live).read_text()).get("offline_vs_live") or []), end="")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register promotion-gate, promotion-check, rollback and registry."""
    p = add(
        sub,
        "promotion-gate",
        cmd_promotion_gate,
    )
    add_env_choice(p, "the environment promoted into", "the environment that follows this one (if any)")
    p.add_argument("--candidate", help="revision recording the candidate (default: promote/<env>, else HEAD)")
    p.add_argument("--record", action="store_true", help="commit the verdict onto promote/<env>")
    p.add_argument("--report", help="write the champion/challenger report (markdown) here")
    p.add_argument("--summary", help="append the report to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--report-only", action="store_true", help="exit 0 even when the gate fails")

    p = add(
        sub,
        "promotion-check",
        cmd_promotion_check,
    )
    p.add_argument("--env", required=True)
    p.add_argument("--base", required=True, help="the environment branch's commit the pull request targets")
    p.add_argument("--summary", help="append the result to this file ($GITHUB_STEP_SUMMARY)")

    p = add(sub, "rollback", cmd_rollback)
    p.add_argument("env")
    p.add_argument("--to", type=lambda v: int(v) if v else None, help="version to return to (default: the previous)")
    p.add_argument("--policy", choices=["commit", "pull_request"], help="override the environment's policy")
    add_repo(p, help="owner/name, to open the rollback pull request")

    p = add(sub, "registry", cmd_registry)
    p.add_argument("--history", metavar="BRANCH", help="list every release of one environment branch")
    p.add_argument("--json", action="store_true")
    p.add_argument("--live", help="the monitor's verdict (reports/drift.json): also each environment's holdout "
                   "metrics beside its live ones")  # fmt: skip
