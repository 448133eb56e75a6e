"""Releasing a model: what .github/workflows/main.yml and deploy.yml run, step by step.

main.yml, after `reproduce`: `record` (store the model of record, commit it onto promote/<env>),
`build-image` (once, by digest, recorded on promote/<env>), then jobs.environments'
`promotion-gate --record` and this module's `promote` (push promote/<env>, one pull request).
deploy.yml, on an environment branch: `deploy` (the release it records: model from the DVC remote,
image by digest, smoke test, MLflow alias), then the next environment's `promotion-gate` and
`promote`. `smoke` and `image-context` serve people trying the same steps by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from pipelines.adapters import dvc, git, record, smoke, tracking
from pipelines.adapters.github import GhCli, upsert_pull_request
from pipelines.adapters.params import committed_outputs, load_contract, load_params, load_paths
from pipelines.commands import (
    Subparsers,
    add,
    add_env_choice,
    add_repo,
    annotate,
    append,
    json_bytes,
    say,
    target_env,
)
from pipelines.core.params import ParamsError

NO_REMOTE = (
    "no DVC remote is configured, so the model of record cannot be stored where later workflows fetch it: "
    "nothing is promoted or deployed. Configure one: `dvc remote add -d storage <url>`, `dvc push`, commit .dvc/config "
    "(or `make init ARGS='--dvc-remote <url>'`); docs/OPERATIONS.md, 'Where artifacts live'"
)


def smoke_image(engine: Any, reference: str, example: dict[str, Any], model_hash: str, port: int) -> dict[str, Any]:
    """Run the image by digest on 127.0.0.1:`port`, check it answers its example with `model_hash`, stop it."""

    handle = engine.run(reference, port)
    try:
        return smoke.check(f"http://127.0.0.1:{port}", example, model_hash)
    finally:
        engine.stop(handle)


def cmd_record(args: argparse.Namespace) -> int:
    from pipelines.adapters import modelio, releases
    from pipelines.adapters.revisions import provenance

    params, paths = load_params(args.params), load_paths(args.dvc_yaml)
    env = target_env(params.environments, args)
    if env is None:
        raise ParamsError(f"no environment in params.yaml is promoted from {args.after!r}")
    if not dvc.has_remote():
        say("record", NO_REMOTE)
        annotate("warning", NO_REMOTE)
        append(args.github_output, "stored=false\n")
        return 0
    dvc.refuse_stale("record")
    digest = modelio.verify(paths["model"], json.loads(Path(paths["manifest"]).read_text()))
    say("record", f"pushing the data and the model of record ({digest[:12]}) to the DVC remote")
    dvc.push()
    committed = committed_outputs(args.dvc_yaml)
    source = git.resolve("HEAD") or "HEAD"
    commit = record.start(
        env.name,
        releases.env_ref(env.name),
        "HEAD",
        record.workspace_files(committed),
        f"{record.RECORD_SUBJECT} {digest[:12]} for {env.name}, built from {source[:12]}",
        tuple(path for path in committed if Path(path).is_dir()),
    )
    with tempfile.TemporaryDirectory(prefix="record-check-") as tmp:
        releases.fetch_model(commit, Path(tmp) / "model", remote_only=True)  # the remote really holds it
    say(
        "record",
        f"{record.branch(env.name)} = {commit[:12]}: main {source[:12]} plus the model of record, "
        "fetched back from the remote and verified",
    )
    if tracking.registry_configured():
        name = params.environments.model_name
        metrics = json.loads(Path(paths["metrics"]).read_text())
        version = tracking.register(name, Path(paths["model"]), digest, provenance(), metrics, params.mlflow.experiment)
        tracking.set_alias(name, "candidate", version)
        say("record", f"MLflow: {name} version {version} (alias candidate)")
    append(args.github_output, f"stored=true\nmodel_hash={digest}\nrecord={commit}\n")
    return 0


def cmd_build_image(args: argparse.Namespace) -> int:
    from pipelines.adapters import images, releases, revisions

    paths = load_paths(args.dvc_yaml)
    env = target_env(load_params(args.params).environments, args)
    if env is None:
        raise ParamsError(f"no environment in params.yaml is promoted from {args.after!r}")
    rev = record.branch(env.name)
    if git.resolve(rev) is None:
        raise record.RecordError(f"no {rev} here: `python -m pipelines record --env {env.name}` makes it first")
    manifest = record.read_json(rev, paths["manifest"])
    source = record.source_of(rev)
    with tempfile.TemporaryDirectory(prefix="build-image-") as tmp:
        model_dir = Path(tmp) / "model"
        digest = releases.fetch_model(rev, model_dir)
        labels = revisions.version_labels(digest, source)
        images.lay_out_context(args.out, model_dir, manifest, labels, args.params)
        example = json.loads((model_dir / "serving_input_example.json").read_text())
    engine = images.engine_from_env()
    tag = f"{args.image.lower()}:{source[:12]}"
    say("build-image", f"building {tag} from {args.out} (model {digest[:12]})")
    engine.build(Path(args.out), tag)
    reference = engine.push(tag)
    images.check_digest(reference)
    say("build-image", f"pushed {reference}")
    version = smoke_image(engine, reference, example, digest, args.port)
    say("build-image", f"smoke test: {version['model_version']} answers its input example")
    release = {"model_hash": digest, "image": reference, "source_commit": source, "data_hash": labels["data_hash"]}
    files = {paths["release"]: json_bytes(release), **releases.release_overlay(env.name, rev, reference, digest)}
    commit = record.amend(env.name, files, f"Image {reference}")
    say("build-image", f"{rev} = {commit[:12]} records the image")
    append(args.github_output, f"image={reference}\n")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from pipelines.adapters import releases
    from pipelines.core.promotion import release_problems, verdict_problems
    from pipelines.core.reports import promotion_body

    envs, paths = load_params(args.params).environments, load_paths()
    env = target_env(envs, args)
    if env is None:
        say("promote", f"{args.after} is the last environment: nothing to promote to")
        return 0
    head = record.branch(env.name)
    if git.resolve(head) is None:
        raise record.RecordError(
            f"no {head} record here: the record (main) or promotion-gate --record (an environment) step makes it"
        )
    release = record.read_json(head, paths["release"]) or {}
    model_hash = str((record.read_json(head, paths["manifest"]) or {}).get("content_hash", ""))
    incomplete = release_problems(model_hash, release) + verdict_problems(
        env.name, model_hash, record.read_json(head, paths["promotion"])
    )
    if incomplete:
        needs = "it needs the image (build-image) and the verdict (promotion-gate --record) before it is pushed"
        raise record.RecordError(f"{head} is not a complete record ({'; '.join(incomplete)}): {needs}")
    ref = releases.env_ref(env.name)
    now = releases.current(ref) if ref else None
    if now is not None and now.model_hash == release.get("model_hash") and now.image == release.get("image"):
        say("promote", f"{env.name} already runs model {now.model_hash[:12]} in {now.image}: nothing to promote")
        return 0
    if args.body:
        body = Path(args.body).read_text()
    else:
        metrics = record.read_json(head, paths["metrics"]) or {}
        body = promotion_body(str(release.get("model_hash")), env.name, env.promote_from, metrics, load_contract().task)
    title = body.splitlines()[0].lstrip("# ").strip() if body.startswith("# ") else f"Promote to {env.name}"
    if args.dry_run:
        print(f"would push {head} and open or update the pull request {head} -> {env.name}: {title}")
        return 0
    git.push(f"refs/heads/{head}", head, force=True)
    say("promote", f"pushed {head}")
    if not args.repo:
        say("promote", f"no --repo (GITHUB_REPOSITORY): open the pull request {head} -> {env.name} yourself")
        return 0
    number, created = upsert_pull_request(GhCli(), args.repo, head, env.name, title, body)
    say("promote", f"{'opened' if created else 'updated'} pull request #{number} ({head} -> {env.name})")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from pipelines.adapters import images, releases

    params, paths = load_params(args.params), load_paths()
    env = params.environments.get(args.env)
    release = record.read_json("HEAD", paths["release"])
    manifest = record.read_json("HEAD", paths["manifest"]) or {}
    if release is None:
        message = (
            f"{env.name} at {(git.resolve('HEAD') or '')[:12]} has no {paths['release']}: no model was "
            "ever promoted here (the promotion pull request brings one); nothing to deploy"
        )
        say("deploy", message)
        annotate("warning", message)
        append(args.github_output, "release=false\n")
        return 0
    if release.get("model_hash") != manifest.get("content_hash"):
        raise record.RecordError(
            f"{paths['release']} names model {str(release.get('model_hash'))[:12]} but "
            f"{paths['manifest']} names {str(manifest.get('content_hash'))[:12]}: the branch "
            "does not describe one release"
        )
    images.check_digest(str(release.get("image")))
    if args.plan:  # what the branch records, before anything needs the registry or the remote
        say("deploy", f"{env.name} records model {str(release['model_hash'])[:12]} in {release['image']}")
        append(args.github_output, "release=true\n")
        return 0
    with tempfile.TemporaryDirectory(prefix=f"deploy-{env.name}-") as tmp:
        model_dir = Path(tmp) / "model"
        digest = releases.fetch_model("HEAD", model_dir, remote_only=True)
        say("deploy", f"{env.name}: model {digest[:12]} fetched from the DVC remote and verified against git")
        engine = images.engine_from_env()
        engine.pull(release["image"])
        example = json.loads((model_dir / "serving_input_example.json").read_text())
        version = smoke_image(engine, release["image"], example, digest, args.port)
        say("deploy", f"{release['image']} answers its input example as model {version['model_hash'][:12]}")
        now = releases.current("HEAD")
        label = f"{env.name}-v{now.version}" if now else f"sha-{digest[:12]}"
        if tracking.registry_configured():
            name = params.environments.model_name
            metrics = json.loads(git.show("HEAD", paths["metrics"]) or "{}")
            tags = {"git_commit": str(release.get("source_commit")), "data_hash": str(release.get("data_hash"))}
            mlflow_version = tracking.register(name, model_dir, digest, tags, metrics, params.mlflow.experiment)
            tracking.set_alias(name, env.name, mlflow_version)
            say("deploy", f"MLflow: models:/{name}@{env.name} -> version {mlflow_version}")
    append(args.github_output, f"image={release['image']}\nmodel_hash={digest}\nmodel_version={label}\n")
    say("deploy", f"{env.name} runs {label}: {release['image']}")
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from pipelines.adapters import images, modelio, releases

    if args.workspace:  # the model this checkout built (a throwaway cluster's image, `make kind-image`)
        model_dir, digest = modelio.workspace_model()
        example = json.loads((model_dir / "serving_input_example.json").read_text())
        version = smoke.check(args.url, example, digest) if args.url else smoke_image(
            images.engine_from_env(), args.image, example, digest, args.port
        )  # fmt: skip
        say("smoke", f"ok: {version['model_version']} ({digest[:12]}) answers its input example, the workspace's model")
        return 0
    rev = git.branch_ref(args.rev)
    if git.resolve(rev) is None:
        raise smoke.SmokeError(f"unknown revision {args.rev!r} (fetch it, or check the branch name)")
    manifest = record.read_json(rev, load_paths()["manifest"]) or {}
    with tempfile.TemporaryDirectory(prefix="smoke-") as tmp:
        digest = releases.fetch_model(rev, Path(tmp) / "model")
        example = json.loads((Path(tmp) / "model" / "serving_input_example.json").read_text())
    if digest != manifest.get("content_hash"):
        raise smoke.SmokeError(f"{args.rev}: the fetched model is {digest[:12]}, the manifest names another")
    if args.url:
        version = smoke.check(args.url, example, digest)
    else:
        version = smoke_image(images.engine_from_env(), args.image, example, digest, args.port)
    say(
        "smoke",
        f"ok: {version['model_version']} ({version['model_hash'][:12]}) answers its input example, "
        f"the model {args.rev} records",
    )
    return 0


def cmd_image_context(args: argparse.Namespace) -> int:
    from pipelines.adapters import images, modelio, releases, revisions

    paths = load_paths(args.dvc_yaml)
    with tempfile.TemporaryDirectory(prefix="image-context-") as tmp:
        if args.rev:  # the model recorded at a revision, verified against the manifest git holds there
            model_dir = Path(tmp) / "model"
            digest = releases.fetch_model(args.rev, model_dir)
            manifest = json.loads(git.show(args.rev, paths["manifest"]) or "{}")
            labels = revisions.version_labels(digest, args.rev)
        else:  # the workspace's model, for trying the image locally
            model_dir, digest = modelio.workspace_model()
            manifest = json.loads(Path(paths["manifest"]).read_text())
            labels = revisions.version_labels(digest)
        if args.model_version:
            labels["model_version"] = args.model_version
        challenger = None
        if args.challenger_rev:  # a candidate for the service to shadow (serve --challenger challenger)
            c_dir = Path(tmp) / "challenger"
            c_digest = releases.fetch_model(args.challenger_rev, c_dir)
            c_manifest = json.loads(git.show(args.challenger_rev, paths["manifest"]) or "{}")
            challenger = (c_dir, c_manifest, revisions.version_labels(c_digest, args.challenger_rev))
        images.lay_out_context(args.out, model_dir, manifest, labels, args.params, challenger)
    say("image-context", f"wrote {args.out} for model {labels['model_version']} ({digest[:12]})")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register record, build-image, promote, deploy, smoke and image-context."""
    p = add(
        sub,
        "record",
        cmd_record,
    )
    add_env_choice(p, "the environment the record is for", "the environment promoted from this one (main: the first)")
    p.add_argument("--github-output", help="append stored=true|false, model_hash, record to this file")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add(
        sub,
        "build-image",
        cmd_build_image,
    )
    add_env_choice(p, "the environment whose record gets the image", "the environment promoted from this one")
    p.add_argument("--image", required=True, help="registry/name without tag, e.g. ghcr.io/acme/churn")
    p.add_argument("--out", default="build/image", help="where the build context is laid out")
    p.add_argument("--port", type=int, default=18080, help="127.0.0.1 port for the smoke test")
    p.add_argument("--github-output", help="append image=<name@digest> to this file ($GITHUB_OUTPUT)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")

    p = add(sub, "promote", cmd_promote)
    add_env_choice(p, "the environment to promote into", "promote into the environment that follows this one")
    add_repo(p, help="owner/name (no pull request without it)")
    p.add_argument("--body", help="markdown file for the pull request body (e.g. the promotion-gate report)")
    p.add_argument("--dry-run", action="store_true")

    p = add(
        sub,
        "deploy",
        cmd_deploy,
    )
    p.add_argument("--env", required=True)
    p.add_argument("--port", type=int, default=18080, help="127.0.0.1 port for the smoke test")
    p.add_argument(
        "--plan",
        action="store_true",
        help="only say whether the branch records a release (release=true|false), touching no registry or remote",
    )
    p.add_argument(
        "--github-output", help="append release=true|false (and image, model_hash, model_version) ($GITHUB_OUTPUT)"
    )

    p = add(
        sub,
        "smoke",
        cmd_smoke,
        params=False,
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url")
    target.add_argument("--image")
    p.add_argument("--rev", default="HEAD", help="the revision whose manifest names the expected model")
    p.add_argument("--workspace", action="store_true", help="expect the workspace's model instead (a local build)")
    p.add_argument("--port", type=int, default=18080)

    p = add(sub, "image-context", cmd_image_context)
    p.add_argument("--out", default="build/image")
    p.add_argument("--rev", help="the model recorded at this revision (default: the workspace's model)")
    p.add_argument("--model-version", help="version label for /version (default: sha-<model hash>)")
    p.add_argument("--challenger-rev", help="also lay in the model recorded here, for the service to shadow")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
