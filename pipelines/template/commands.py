"""What runs once per project: `init` (a fresh copy becomes your project), `setup` and `protect` (the
GitHub side: environment branches, Environments, branch protection), and `template-record` (for
the template's own maintainers)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from pipelines.adapters import git
from pipelines.adapters.github import (
    GhCli,
    GitHubError,
    environment_calls,
    missing_reviewers,
    protection_calls,
    reviewer_resolver,
    setup_calls,
)
from pipelines.commands import Subparsers, add, add_repo, say
from pipelines.core.params import renamed_keys


def cmd_init(args: argparse.Namespace) -> int:
    from pipelines.template import plan as planner

    root = Path.cwd()
    name = args.name or re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-") or "project"
    environments = tuple(args.environments.split(",")) if args.environments else None
    if environments is not None and len(environments) != 2:
        raise planner.InitError("--environments takes two names separated by a comma, e.g. staging,production")
    options = planner.Options(
        name=name,
        model_name=args.model_name or name,
        image=args.image,
        repo_url=args.repo_url or _origin_url(),
        environments=(environments[0], environments[1]) if environments else None,
        reviewers=tuple(r for r in args.reviewers.split(",") if r) if args.reviewers is not None else None,
        dvc_remote=args.dvc_remote,
        dvc_endpoint=args.dvc_endpoint,
        mlflow_uri=args.mlflow_uri,
        dataset=Path(args.dataset).resolve() if args.dataset else None,
        target=args.target,
        task=args.task,
        missing_values=tuple(args.missing_values.split(",")) if args.missing_values is not None else None,
        keep_columns=tuple(c for c in (args.keep_columns or "").split(",") if c),
    )
    if options.dataset is not None and not options.target:
        raise planner.InitError("--dataset needs --target COLUMN: the column to predict")
    say("init", "checking the repository" + (f" and reading {args.dataset}" if args.dataset else ""))
    plan = planner.plan(root, options)
    if plan.task:
        scores = ", ".join(f"{k}={v:.4f}" for k, v in plan.scores.items())
        say("init", f"task: {plan.task}; the first model on the holdout split: {scores}")
    for note in plan.notes:
        say("init", note)
    changed = planner.apply(root, options, plan)
    if not changed:
        say("init", "already set up with these options: nothing to change")
        return 0
    for path in changed:
        say("init", f"wrote {path}")
    say(
        "init",
        "next: review pipelines/yours/schema.py and the gate floors in params.yaml, run `make run` and "
        "`make test`, then commit everything (docs/FORKING.md)",
    )
    return 0


def _origin_url() -> str | None:
    """The `origin` remote's URL when it is a hosted repository (what Argo CD can clone), else None."""

    try:
        url = git.text("remote", "get-url", "origin")
    except git.GitError:
        return None
    return url if re.match(r"^(https://|git@|ssh://)", url) else None


def cmd_protect(args: argparse.Namespace) -> int:
    import yaml

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
            say("protect", f"applied {path}")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    import yaml

    settings = yaml.safe_load(Path(args.settings).read_text())
    sha = git.resolve(args.main)
    if sha is None:
        raise GitHubError(f"no local {args.main!r} branch: the environment branches start from it; push it first")
    unreviewed = missing_reviewers(settings)
    if unreviewed and not args.allow_no_reviewers:
        message = (
            f"environments.{unreviewed}.reviewers is empty in {args.settings}: {unreviewed} deploys would "
            "wait for nobody. Add GitHub logins or org/team slugs (or `init --reviewers`), or pass "
            "--allow-no-reviewers"
        )
        if not args.dry_run:
            raise GitHubError(message)
        say("setup", f"warning: {message}")
    if args.dry_run:
        for call in setup_calls(settings, args.repo, sha):
            if call.note:
                print(f"# {call.note}")
            print(call.command())
        return 0
    github = GhCli()
    methods = {"POST": github.post, "PUT": github.put, "PATCH": github.patch}
    for call in setup_calls(settings, args.repo, sha, github, reviewer_resolver(github)):
        methods[call.method](call.path, call.payload or {})
        say("setup", f"{call.method} {call.path}")
    say("setup", f"{args.repo} is set up; re-running changes nothing that exists")
    return 0


def cmd_template_record(args: argparse.Namespace) -> int:
    from pipelines.template.record import RECORD, refresh_record

    refresh_record(Path.cwd())
    say("template-record", f"wrote {RECORD}: the files init owns, as the template ships them")
    return 0


def cmd_add_environment(args: argparse.Namespace) -> int:
    from pipelines.adapters import files
    from pipelines.template.environments import add_environment
    from pipelines.template.record import RECORD, current_hashes, diverged, read_record, render_record

    root = Path.cwd()
    record = read_record(root) if (root / RECORD).exists() else None
    fresh = record is not None and not diverged(root, record)
    import yaml

    writes = add_environment(root, args.name, args.after, args.rollback)
    for note in renamed_keys(yaml.safe_load((root / "params.yaml").read_text())):  # written under the new name
        say("add-environment", note.replace("; rename it (read under the old name for now)", ": renamed in the file"))
    for path, text in writes.items():
        files.write_text(root / path, text)
        say("add-environment", f"wrote {path}")
    if fresh and record is not None:  # the record still describes what the template tools last wrote
        files.write_text(root / RECORD, render_record(current_hashes(root), record.get("options")))
    next_steps = "check the diff, commit, then `python -m pipelines setup --repo OWNER/NAME` (its branch and GitHub "
    next_steps += "Environment); review .github/protection.yml"
    say("add-environment", f"{args.name} added; {next_steps}")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register init, setup, protect, add-environment and template-record."""
    p = add(
        sub,
        "init",
        cmd_init,
        params=False,
    )
    p.add_argument("--name", help="project name, used for the MLflow experiment (default: the directory name)")
    p.add_argument("--model-name", help="registered model name (environments.model_name; default: the name)")
    p.add_argument("--image", help="container image without tag, e.g. ghcr.io/acme/churn (default: ghcr.io/<repo>)")
    p.add_argument("--environments", help="the two environment branch names, e.g. staging,production")
    p.add_argument("--reviewers", help="comma-separated GitHub logins or org/team slugs who approve production deploys")
    p.add_argument("--dvc-remote", help="URL of the default DVC remote, e.g. s3://bucket/dvc")
    p.add_argument("--dvc-endpoint", help="the S3-compatible store's URL for that remote, e.g. http://minio:9000")
    p.add_argument("--mlflow-uri", help="MLflow tracking URI, set as a repository variable by `setup`")
    p.add_argument("--repo-url", help="git URL Argo CD syncs the environments from (default: the origin remote's)")
    p.add_argument("--dataset", help="your data: a .csv or .parquet file (replaces the embedded example)")
    p.add_argument("--target", help="the column to predict (with --dataset)")
    p.add_argument("--task", choices=["binary", "multiclass", "regression"], help="override the inferred task")
    p.add_argument(
        "--missing-values",
        help="comma-separated CSV cells that mean missing (data.missing_values; default: only empty cells), e.g. ',NA'",
    )
    p.add_argument(
        "--keep-columns",
        help="comma-separated columns to use as inputs even if they look like identifiers or timestamps",
    )

    p = add(
        sub,
        "setup",
        cmd_setup,
        params=False,
    )
    add_repo(p, required=True)
    p.add_argument("--settings", default=".github/protection.yml")
    p.add_argument("--main", default="main", help="the branch the environment branches start from")
    p.add_argument("--dry-run", action="store_true", help="print the exact gh api calls instead of making them")
    p.add_argument("--allow-no-reviewers", action="store_true", help="let production deploy without approval")

    p = add(
        sub,
        "protect",
        cmd_protect,
        params=False,
    )
    add_repo(p, required=True)
    p.add_argument("--settings", default=".github/protection.yml")
    p.add_argument("--dry-run", action="store_true", help="print the API calls instead of making them")

    p = add(
        sub,
        "add-environment",
        cmd_add_environment,
        params=False,
    )
    p.add_argument("name", help="the environment (its branch), e.g. canary")
    p.add_argument("--after", help="the environment (or main) it is promoted from (default: the last one)")
    p.add_argument("--rollback", default="pull_request", choices=["commit", "pull_request"],
                   help="how a rollback lands on its branch (default: %(default)s)")  # fmt: skip

    add(
        sub,
        "template-record",
        cmd_template_record,
        params=False,
    )
