"""What an environment declares the cluster runs: `render` (the overlay's manifests, checked against the
Kubernetes schemas and the policy in pipelines.core.k8s_policy). The overlay edit that promotion makes is
pipelines.adapters.releases.release_overlay. No command here talks
to a cluster: Argo CD (deploy/argocd) reconciles what the branches say; the kind workflow applies a
rendering on GitHub only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.adapters import overlays
from pipelines.adapters.params import load_params
from pipelines.commands import Subparsers, add, say
from pipelines.core import k8s_policy as policy


def checked(env: str, image: str | None, port: int, grace: float) -> tuple[str, list[str]]:
    """(rendered YAML, every schema and policy problem) of `env`'s overlay in the working tree."""

    rendered = overlays.render(env, ".", image)
    docs = overlays.documents(rendered)
    return rendered, overlays.schema_problems(docs) + policy.problems(docs, port, grace)


def cmd_render(args: argparse.Namespace) -> int:
    from pipelines.adapters import files

    params = load_params(args.params)
    params.environments.get(args.env)  # an unknown environment is named, with the known ones
    rendered, problems = checked(args.env, args.image, params.serve.port, params.serve.graceful_shutdown_seconds)
    if args.out:
        files.write_text(args.out, rendered)
    elif not args.check:
        sys.stdout.write(rendered)
    for problem in problems:
        say("render", f"FAIL: {args.env}: {problem}")
    if problems:
        return 1
    say("render", f"{args.env}: the rendered manifests pass the Kubernetes schemas and the policy")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register render."""
    p = add(sub, "render", cmd_render)
    p.add_argument("--env", required=True, help="the environment (params.yaml environments)")
    p.add_argument("--image", help="render as if promoted to this image (name@sha256:...), e.g. a local build")
    p.add_argument("--out", type=Path, help="write the manifests here instead of standard output")
    p.add_argument("--check", action="store_true", help="only check (schemas and policy), print nothing else")
