"""`python -m pipelines serve`: the prediction service (deploy/) on uvicorn, for `make serve`, the
serving image's CMD, and `serve --env <environment>`. The only module that imports deploy/."""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.jsonlines import JsonLinesLog, LogSettings
from deploy.payload import InputSpec
from deploy.scoring import Bundle, ModelStore, load_bundle
from deploy.state import ServiceSettings
from pipelines.adapters import git
from pipelines.adapters.params import estimators, load_contract, load_params, load_paths
from pipelines.commands import Subparsers, add, say
from pipelines.errors import PipelineError


def labels_for(path: str | None, digest: str) -> dict[str, str]:
    """What /version reports: from a release file (written at image build time), else from git."""
    from pipelines.adapters.revisions import version_labels

    if path:
        recorded = json.loads(Path(path).read_text())
        labels = {k: str(recorded.get(k, "unknown")) for k in ("model_version", "git_commit", "data_hash")}
        return labels | {"model_hash": digest}
    return version_labels(digest)


def environment_model(env: str, dvc_yaml: str) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """The exact model an environment runs, fetched at its branch and verified: (directory, manifest, labels)."""

    from pipelines.adapters import releases

    rev = git.branch_ref(env)
    now = releases.current(rev)
    if now is None:
        raise releases.RegistryError(f"{env} has no model yet")
    model_dir = Path(tempfile.mkdtemp(prefix=f"serve-{env}-")) / "model"
    digest = releases.fetch_model(rev, model_dir)
    manifest = json.loads(git.show(rev, load_paths(dvc_yaml)["manifest"]) or "{}")
    labels = {
        "model_version": f"{env}-v{now.version}",
        "model_hash": digest,
        "git_commit": now.commit,
        "data_hash": now.data_hash,
    }
    return model_dir, manifest, labels


def model_store() -> ModelStore:
    """The service's one way into the project (deploy.scoring.ModelStore): verified loading through the model
    format's allow-list, and the estimator list's fast paths."""
    from pipelines.adapters import modelio

    fast_paths = [entry.fast_path for entry in estimators().values() if entry.fast_path is not None]
    return ModelStore(verify=modelio.verify, load=modelio.load, fast_paths=fast_paths)


def challenger_model(args: argparse.Namespace, directory: str | None) -> Callable[[Any], Any] | None:
    """How to load the challenger to shadow the champion with, given the champion's InputSpec: `--challenger-env`'s
    model (fetched and verified now), or a directory laid out by `image-context --challenger-rev` (model/,
    manifest.json, release.json; verified when loaded, so a tampered or incompatible challenger is refused and
    counted while the champion serves on). None when neither is given or the directory is empty (an image built
    without a challenger); PipelineError for a directory that does not exist or holds no manifest.json."""
    from pipelines.adapters import modelio

    if args.challenger_env:
        c_dir, c_manifest, c_release = environment_model(args.challenger_env, args.dvc_yaml)
        return lambda input_spec: load_bundle(c_dir, c_manifest, c_release, input_spec, model_store())
    if not directory:
        return None
    root = Path(directory)
    if not root.is_dir():
        raise PipelineError(f"--challenger {directory}: no such directory")
    if not any(root.iterdir()):
        return None
    if not (root / "manifest.json").is_file():
        raise PipelineError(
            f"--challenger {directory}: no manifest.json (lay one out with `image-context --challenger-rev`)"
        )

    def load(input_spec: InputSpec) -> Bundle:
        manifest = json.loads((root / "manifest.json").read_text())
        digest = modelio.verify(root / "model", manifest)
        labels = labels_for(str(root / "release.json"), digest)
        bundle = load_bundle(root / "model", manifest, labels, input_spec, model_store())
        return bundle

    return load


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from deploy.app import create_app
    from pipelines.adapters import modelio

    params = load_params(args.params).serve
    if args.env:
        model_dir, manifest, labels = environment_model(args.env, args.dvc_yaml)
    else:
        paths = load_paths(args.dvc_yaml) if not (args.model and args.manifest) else {}
        model_dir = Path(args.model or paths["model"])
        manifest = json.loads(Path(args.manifest or paths["manifest"]).read_text())
        digest = modelio.verify(model_dir, manifest)  # a tampered model never gets as far as a socket
        labels = labels_for(args.release, digest)
    shadow = challenger_model(args, args.challenger or params.challenger.directory)
    contract = load_contract()
    input_spec = InputSpec.from_schema(contract.inputs)  # in the image: the contract baked into it
    if input_spec.withheld:
        say("serve", f"personal input(s) scored but never logged: {', '.join(input_spec.withheld)}")
    writer = os.environ.get("POD_NAME") or socket.gethostname()
    log = None
    if params.log.sample_rate > 0:
        # the cluster sets the log location per environment (deploy/k8s: a ConfigMap, SERVE_LOG_DIRECTORY)
        directory = args.log_dir or os.environ.get("SERVE_LOG_DIRECTORY") or params.log.directory
        log = JsonLinesLog(LogSettings(directory=directory, writer=writer, **params.log.writer_settings()))
    outcomes = JsonLinesLog(
        LogSettings(
            directory=args.feedback_dir or os.environ.get("SERVE_FEEDBACK_DIRECTORY") or params.feedback.directory,
            writer=writer,
            **{**params.log.writer_settings(), "sample_rate": 1.0, "max_total_bytes": None},
        ),
        prefix="feedback",
    )
    settings = ServiceSettings(
        params.max_body_bytes,
        params.request_timeout_seconds,
        params.inline_max_rows,
        params.feedback.max_items,
        params.feedback.max_age_days,
        params.challenger.traffic,
    )
    challenger = None
    if shadow is not None:

        def challenger() -> Any:
            return shadow(input_spec)

        source = args.challenger_env or args.challenger or params.challenger.directory
        say("serve", f"challenger from {source}: loading it to score in shadow "
                     f"(answering {params.challenger.traffic:.0%} of requests)")  # fmt: skip

    store = model_store()

    def loader() -> Any:
        return load_bundle(model_dir, manifest, labels, input_spec, store)

    app = create_app(input_spec, loader, settings, log, outcomes, challenger, contract)  # /feedback: the target's rule
    host, port = args.host or params.host, args.port if args.port is not None else params.port
    say("serve", f"model {labels['model_version']} verified; listening on {host}:{port}")
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


def add_commands(sub: Subparsers) -> None:
    """Register serve."""
    p = add(sub, "serve", cmd_serve)
    p.add_argument("--env", help="serve the model this environment runs (its branch's manifest, via dvc.api)")
    p.add_argument("--model", help="model directory (default: from dvc.yaml)")
    p.add_argument("--manifest", help="model manifest with the hashes to verify (default: from dvc.yaml)")
    p.add_argument("--release", help="JSON with model_version, git_commit, data_hash (default: from git)")
    p.add_argument("--challenger", help="a challenger laid out by image-context (default: serve.challenger.directory)")
    p.add_argument("--challenger-env", help="shadow the champion with the model this environment runs")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--log-dir", help="prediction log directory (default: serve.log.directory)")
    p.add_argument("--feedback-dir", help="feedback log directory (default: serve.feedback.directory)")
    p.add_argument("--dvc-yaml", default="dvc.yaml")
