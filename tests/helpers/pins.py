"""Container image pins, checked without a container engine: every base image (`FROM`) and service image
(compose `image:`) is `name:tag@sha256:<64 hex>` (the tag for readers, the digest for what runs), and
.github/dependabot.yml watches every directory holding one, so Dependabot bumps tag and digest together.
Test-only logic: tests/workflows/test_workflows.py runs it on the repository and on inputs built to break it."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

PINNED = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._/-]*(?::\d+/[a-z0-9._/-]+)?)"  # [registry[:port]/]path
    r":(?P<tag>\w[\w.-]{0,127})"
    r"@sha256:(?P<digest>[0-9a-f]{64})$"
)
# The file names Dependabot looks at in a directory: its docker ecosystem matches /dockerfile|containerfile/i
# anywhere in the name (so `mlflow.Dockerfile` is read), docker-compose matches compose files like these.
DOCKERFILE = re.compile(r"dockerfile|containerfile", re.IGNORECASE)
COMPOSE = re.compile(r"(docker-)?compose(-\w+)?(\.[\w-]+)?\.ya?ml$", re.IGNORECASE)
FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def from_images(dockerfile: str) -> list[str]:
    """The image each `FROM` of a Dockerfile's text names; an earlier stage (`FROM build`) and `scratch` are
    not images to pin."""
    stages: set[str] = {"scratch"}
    images = []
    for match in FROM.finditer(dockerfile):
        reference, alias = match.groups()
        if reference.lower() not in stages:
            images.append(reference)
        if alias:
            stages.add(alias.lower())
    return images


def compose_images(compose: str) -> list[str]:
    """The `image:` of every service of a compose file's text (a service built from a Dockerfile has none)."""
    services = (yaml.safe_load(compose) or {}).get("services") or {}
    return [str(service["image"]) for service in services.values() if "image" in service]


def unpinned(images: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """The references that are not `name:tag@sha256:<64 hex>`, except the exact ones in `allowed`."""
    exceptions = set(allowed)
    return [image for image in images if not PINNED.match(image) and image not in exceptions]


def image_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(Dockerfiles, compose files) among the files git tracks or would track under `root`, by the names
    Dependabot reads."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    files = sorted({root / name for name in listed if name and (root / name).is_file()})
    return [p for p in files if DOCKERFILE.search(p.name)], [p for p in files if COMPOSE.search(p.name)]


def images_in(dockerfiles: Iterable[Path], composes: Iterable[Path]) -> dict[str, list[str]]:
    """Every image reference, with the files that name it."""
    found: dict[str, list[str]] = {}
    for path, images in [*((p, from_images(p.read_text())) for p in dockerfiles),
                         *((p, compose_images(p.read_text())) for p in composes)]:  # fmt: skip
        for image in images:
            found.setdefault(image, []).append(path.as_posix())
    return found


def _directory(path: str) -> str:
    return "/" + path.strip("/")


def dependabot_gaps(config: Mapping[str, Any], watched: Mapping[str, Iterable[str]]) -> list[str]:
    """What `config` (dependabot.yml, loaded) leaves unwatched: for each ecosystem, the directories (as "/a/b")
    that need it and that none of its entries' `directory` or `directories` (globs allowed) covers."""
    patterns: dict[str, list[str]] = {}
    for update in config.get("updates") or []:
        entries = [update["directory"]] if "directory" in update else list(update.get("directories") or [])
        patterns.setdefault(update.get("package-ecosystem"), []).extend(_directory(e) for e in entries)
    return [
        f"{ecosystem}: {directory} is not watched by .github/dependabot.yml"
        for ecosystem, directories in watched.items()
        for directory in sorted({_directory(d) for d in directories})
        if not any(fnmatchcase(directory, p) for p in patterns.get(ecosystem, []))
    ]


def directories(root: Path, files: Iterable[Path]) -> set[str]:
    """The directories holding `files`, as Dependabot names them ("/deploy")."""
    return {_directory("" if p.parent == root else p.parent.relative_to(root).as_posix()) for p in files}
