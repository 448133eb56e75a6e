"""The template record (.template.yml): the sha256 of every file `init` owns, as the template shipped
it or as init last wrote it. A copy whose owned files still match is fresh; otherwise init refuses
rather than overwrite a person's work."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.template.infer import InitError

RECORD = ".template.yml"
WORKFLOWS = "workflows"  # under .github/
SCHEMA = "pipelines/yours/schema.py"
OVERLAYS = "deploy/k8s/overlays"  # one per environment: init renames them with the environments
APPLICATIONS = "deploy/argocd/applicationset.yaml"


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def owned_files(root: Path) -> list[str]:
    """Every file init may write, relative to `root` (besides data/ and the record itself)."""
    names = ["params.yaml", "dvc.yaml", "data.dvc", SCHEMA, ".github/protection.yml", ".dvc/config"]
    names += sorted(str(p.relative_to(root)) for p in (root / ".github" / WORKFLOWS).glob("*.yml"))
    names += sorted(str(p.relative_to(root)) for p in (root / OVERLAYS).glob("*/kustomization.yaml"))
    names += [APPLICATIONS] if (root / APPLICATIONS).exists() else []
    return names


def read_record(root: Path) -> dict[str, Any]:
    """The record of `root`; InitError when it is missing or malformed."""
    import yaml

    path = root / RECORD
    if not path.exists():
        raise InitError(
            f"{RECORD} is missing: this does not look like a copy of the template (or the record was deleted); "
            "init only sets up a fresh copy"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("files"), dict):
        raise InitError(f"{RECORD}: no `files:` mapping")
    return data


def render_record(files: Mapping[str, str], options: Mapping[str, Any] | None) -> str:
    """The record's text: the files' hashes and the options init ran with (None: the template as shipped)."""
    import yaml

    header = (
        "# Written by `python -m pipelines init` (docs/FORKING.md): the sha256 of every file init owns, as the\n"
        "# template shipped it or as init last wrote it. init refuses to run once one of them has changed.\n"
    )
    body = {"initialised": options is not None, "options": dict(options) if options else None, "files": dict(files)}
    return header + yaml.safe_dump(body, sort_keys=False)


def current_hashes(root: Path) -> dict[str, str]:
    """sha256 of every owned file that exists, by path."""
    return {name: sha256((root / name).read_bytes()) for name in owned_files(root) if (root / name).exists()}


def diverged(root: Path, record: Mapping[str, Any]) -> list[str]:
    """Owned files whose content differs from the record (changed by hand since template or init)."""
    recorded: Mapping[str, str] = record["files"]
    now = current_hashes(root)
    return sorted(name for name in set(recorded) | set(now) if recorded.get(name) != now.get(name))


def refresh_record(root: Path) -> None:
    """Template maintainers: record the current owned files as the template's (`make template-record`)."""
    from pipelines.adapters import files

    files.write_text(root / RECORD, render_record(current_hashes(root), None))
