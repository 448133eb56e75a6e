"""`python -m pipelines serve`: the prediction service (deploy/) on uvicorn, for `make serve`, the
serving image's CMD, and `serve --env <environment>`. The only module that imports deploy/."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.jobs.common import add, say


def release_labels(path: str | None, digest: str) -> dict[str, str]:
    """What /version reports: from a release file (written at image build time), else from git."""
    from pipelines.jobs.release import version_labels

    if path:
        recorded = json.loads(Path(path).read_text())
        labels = {k: str(recorded.get(k, "unknown")) for k in ("model_version", "git_commit", "data_hash")}
        return labels | {"model_hash": digest}
    return version_labels(digest)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from deploy.app import ServiceSettings, create_app
    from deploy.predictions import LogSettings, PredictionLog
    from deploy.scoring import InputSpec, load_bundle
    from pipelines.adapters import modelio
    from pipelines.adapters.params import load_contract, load_params, load_paths

    params = load_params(args.params).serve
    if args.env:  # the exact model an environment runs, fetched at its branch and verified
        import tempfile

        from pipelines.adapters import git, releases

        rev = git.branch_ref(args.env)
        now = releases.current(rev)
        if now is None:
            raise releases.RegistryError(f"{args.env} has no model yet")
        model_dir = Path(tempfile.mkdtemp(prefix=f"serve-{args.env}-")) / "model"
        digest = releases.fetch_model(rev, model_dir)
        manifest = json.loads(git.show(rev, load_paths(args.dvc_yaml)["manifest"]) or "{}")
        release = {
            "model_version": f"{args.env}-v{now.version}",
            "model_hash": digest,
            "git_commit": now.commit,
            "data_hash": now.data_hash,
        }
    else:
        paths = load_paths(args.dvc_yaml) if not (args.model and args.manifest) else {}
        model_dir = Path(args.model or paths["model"])
        manifest = json.loads(Path(args.manifest or paths["manifest"]).read_text())
        digest = modelio.verify(model_dir, manifest)  # a tampered model never gets as far as a socket
        release = release_labels(args.release, digest)
    spec = InputSpec.from_schema(load_contract().inputs)
    log = None
    import os
    import socket

    if params.log.sample_rate > 0:
        # the cluster sets the log location per environment (deploy/k8s: a ConfigMap, SERVE_LOG_DIRECTORY)
        directory = args.log_dir or os.environ.get("SERVE_LOG_DIRECTORY") or params.log.directory
        writer = os.environ.get("POD_NAME") or socket.gethostname()
        log = PredictionLog(
            LogSettings(directory=directory, writer=writer, **params.log.model_dump(exclude={"directory"}))
        )

    def loader() -> Any:
        return load_bundle(model_dir, manifest, release, spec)

    settings = ServiceSettings(
        params.max_body_bytes,
        params.request_timeout_seconds,
        params.inline_max_rows,
        params.feedback.max_items,
        params.feedback.max_age_days,
    )
    outcomes = PredictionLog(
        LogSettings(
            directory=args.feedback_dir or os.environ.get("SERVE_FEEDBACK_DIRECTORY") or params.feedback.directory,
            writer=os.environ.get("POD_NAME") or socket.gethostname(),
            **{**params.log.model_dump(exclude={"directory"}), "sample_rate": 1.0},
        ),
        prefix="feedback",
    )
    app = create_app(spec, loader, settings, log, outcomes)
    host, port = args.host or params.host, args.port if args.port is not None else params.port
    say("serve", f"model {release['model_version']} verified; listening on {host}:{port}")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=int(params.graceful_shutdown_seconds),
    )
    uvicorn.Server(config).run()
    return 0


def add_commands(sub: Any) -> None:
    """Register serve."""
    p = add(sub, "serve", cmd_serve, "serve the model over HTTP (MLflow-compatible /invocations, health, metrics)")
    p.add_argument("--env", help="serve the model this environment runs (its branch's manifest, via dvc.api)")
    p.add_argument("--model", help="model directory (default: from dvc.yaml)")
    p.add_argument("--manifest", help="model manifest with the hashes to verify (default: from dvc.yaml)")
    p.add_argument("--release", help="JSON with model_version, git_commit, data_hash (default: from git)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--log-dir", help="prediction log directory (default: serve.log.directory)")
    p.add_argument("--feedback-dir", help="feedback log directory (default: serve.feedback.directory)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
