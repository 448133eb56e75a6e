"""The serving image: its build context, and the container engine behind one small interface.

The image is built once, from the model of record on main, pushed, and from then on named by
digest (`registry/name@sha256:...`): environments run that exact image. No engine runs on every
machine (none runs in this template's test suite), so the engine is an interface with a command-line
implementation for docker or podman; `PIPELINES_CONTAINER_ENGINE` picks one, or names a class
(`module:Class`) that implements `ContainerEngine`.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Protocol

from pipelines.adapters import files
from pipelines.errors import PipelineError

DIGEST = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


class ImageError(PipelineError):
    """An image cannot be built, pushed, pulled or run."""


class ContainerEngine(Protocol):
    """What the workflows need of a container engine and registry."""

    def build(self, context: Path, tag: str) -> None:
        """Build the image in `context` and tag it `tag` (registry/name:tag)."""

    def push(self, tag: str) -> str:
        """Push `tag`; return the pushed image by digest, `registry/name@sha256:<64 hex>`."""

    def pull(self, reference: str) -> None:
        """Fetch `reference` (by digest) from its registry; raise ImageError if it is not there."""

    def run(self, reference: str, port: int) -> str:
        """Start `reference` with its port 8080 on 127.0.0.1:`port`; return a handle for `stop`."""

    def stop(self, handle: str) -> None:
        """Stop what `run` started."""


def check_digest(reference: str) -> tuple[str, str]:
    """(name, digest) of an image reference by digest; ImageError for anything else (a tag moves)."""
    match = DIGEST.match(reference)
    if not match:
        raise ImageError(f"{reference!r} is not an image by digest (registry/name@sha256:<64 hex>)")
    return match["name"], match["digest"]


class CliEngine:
    """docker or podman through its command line (both take the same arguments used here)."""

    def __init__(self, binary: str = "docker"):
        self.binary = binary

    def _run(self, *args: str) -> str:
        try:
            result = subprocess.run([self.binary, *args], capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ImageError(f"{self.binary} is not available: {exc}") from None
        if result.returncode != 0:
            raise ImageError(f"{self.binary} {args[0]} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def build(self, context: Path, tag: str) -> None:
        """`<engine> build --tag TAG CONTEXT`."""
        self._run("build", "--tag", tag, str(context))

    def push(self, tag: str) -> str:
        """`<engine> push TAG`; the pushed reference by digest, from the image's RepoDigests."""
        self._run("push", tag)
        reference = self._run("image", "inspect", "--format", "{{index .RepoDigests 0}}", tag)
        check_digest(reference)
        return reference

    def pull(self, reference: str) -> None:
        """`<engine> pull REF`."""
        self._run("pull", reference)

    def run(self, reference: str, port: int) -> str:
        """`<engine> run --detach --rm` with port 8080 published on 127.0.0.1:`port`; the container id."""
        return self._run("run", "--detach", "--rm", "--publish", f"127.0.0.1:{port}:8080", reference)

    def stop(self, handle: str) -> None:
        """`<engine> stop` (never fails)."""
        subprocess.run([self.binary, "stop", handle], capture_output=True, check=False)


def engine_from_env() -> ContainerEngine:
    """The engine `PIPELINES_CONTAINER_ENGINE` names: docker (default), podman, or `module:Class`."""
    name = os.environ.get("PIPELINES_CONTAINER_ENGINE", "docker")
    if name in ("docker", "podman"):
        return CliEngine(name)
    module, _, attr = name.partition(":")
    try:
        engine: ContainerEngine = getattr(importlib.import_module(module), attr)()
    except (ImportError, AttributeError, ValueError) as exc:
        raise ImageError(
            f"PIPELINES_CONTAINER_ENGINE={name!r}: not docker, podman or an importable module:Class ({exc})"
        ) from None
    return engine


def lay_out_context(
    out: str | os.PathLike[str],
    model_dir: Path,
    manifest: dict[str, Any],
    release: dict[str, str],
    params: str,
    challenger: tuple[Path, dict[str, Any], dict[str, str]] | None = None,
) -> None:
    """Write the image's build context to `out` (replaced atomically): deploy/Dockerfile's COPY list.

    The model is verified against `manifest` (the one git recorded) on the way in; so is `challenger`
    (directory, manifest, release), laid out under challenger/ for the service to shadow (empty without one).
    """
    from pipelines.adapters import modelio

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with files.atomic_dir(out) as tmp:
        shutil.copy2("deploy/Dockerfile", tmp / "Dockerfile")
        shutil.copy2("deploy/requirements.txt", tmp / "requirements.txt")
        shutil.copytree("pipelines", tmp / "pipelines", ignore=ignore)
        deploy_ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "Dockerfile", "requirements.txt", "*.json")
        shutil.copytree("deploy", tmp / "deploy", ignore=deploy_ignore)
        shutil.copy2(params, tmp / "params.yaml")
        shutil.copytree(model_dir, tmp / "model")
        files.write_json(tmp / "manifest.json", manifest)
        files.write_json(tmp / "release.json", release)
        modelio.verify(tmp / "model", manifest)  # what goes into the image is what git recorded
        (tmp / "challenger").mkdir()
        if challenger is not None:
            shutil.copytree(challenger[0], tmp / "challenger" / "model")
            files.write_json(tmp / "challenger" / "manifest.json", challenger[1])
            files.write_json(tmp / "challenger" / "release.json", challenger[2])
            modelio.verify(tmp / "challenger" / "model", challenger[1])
        for path in [tmp, *tmp.rglob("*")]:  # the image runs as a non-root user: everything readable
            path.chmod(0o755 if path.is_dir() else 0o644)
