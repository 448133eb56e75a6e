"""The stand-ins' one script: `python3 stand_in.py ACTION`, inputs as INPUT_* variables (as the real
actions get them), every call recorded in $RUNNER_TIER_ARTIFACTS/calls.jsonl for the tests to read."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
from pathlib import Path

STORE = Path(os.environ["RUNNER_TIER_ARTIFACTS"])


def _out(name: str, value: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
        handle.write(f"{name}={value}\n")


def _record(action: str, **fields: str) -> None:
    STORE.mkdir(parents=True, exist_ok=True)
    with (STORE / "calls.jsonl").open("a") as handle:
        handle.write(json.dumps({"action": action, "run_id": os.environ.get("GITHUB_RUN_ID"), **fields}) + "\n")


def setup_uv() -> int:
    venv = Path(os.environ["VENV"])
    if not (venv / "bin" / "python").exists():
        print(f"setup-uv stand-in: VENV={venv} is not an environment", file=sys.stderr)
        return 1
    with open(os.environ["GITHUB_PATH"], "a") as handle:
        handle.write(f"{venv / 'bin'}\n")
    with open(os.environ["GITHUB_ENV"], "a") as handle:
        handle.write(f"VIRTUAL_ENV={venv}\n")
    _out("uv-version", os.environ.get("INPUT_VERSION", ""))
    _record("setup-uv", version=os.environ.get("INPUT_VERSION", ""))
    return 0


def upload_artifact() -> int:
    name = os.environ.get("INPUT_NAME") or "artifact"
    patterns = [line.strip() for line in os.environ["INPUT_PATH"].splitlines() if line.strip()]
    found: list[Path] = []
    for pattern in patterns:
        for match in sorted(glob.glob(pattern, recursive=True)):
            path = Path(match)
            found += [f for f in sorted(path.rglob("*")) if f.is_file()] if path.is_dir() else [path]
    if not found:
        policy = os.environ.get("INPUT_IF_NO_FILES_FOUND", "warn")
        print(f"No files were found with the provided path: {' '.join(patterns)}. No artifacts will be uploaded.")
        _record("upload-artifact", name=name, files="")
        return 1 if policy == "error" else 0
    root = Path(os.path.commonpath([str(f.parent.resolve()) for f in found]))
    target = STORE / os.environ["GITHUB_RUN_ID"] / name
    for file in found:
        dest = target / file.resolve().relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, dest)
    _record("upload-artifact", name=name, files=" ".join(sorted(str(f) for f in found)))
    return 0


def download_artifact() -> int:
    run_id = os.environ.get("INPUT_RUN_ID") or os.environ["GITHUB_RUN_ID"]
    name = os.environ.get("INPUT_NAME") or ""
    source = STORE / run_id / name
    _record("download-artifact", name=name, source_run=run_id)
    if not source.is_dir():
        print(f"Unable to download artifact(s): Artifact not found for name: {name}", file=sys.stderr)
        return 1
    shutil.copytree(source, os.environ.get("INPUT_PATH") or ".", dirs_exist_ok=True)
    return 0


def create_github_app_token() -> int:
    if not os.environ.get("INPUT_APP_ID") or not os.environ.get("INPUT_PRIVATE_KEY"):
        print("create-github-app-token stand-in: app-id and private-key are required", file=sys.stderr)
        return 1
    _out("token", os.environ["RUNNER_TIER_APP_TOKEN"])
    _record("create-github-app-token", app_id=os.environ["INPUT_APP_ID"])
    return 0


def main(action: str) -> int:
    if action == "setup-uv":
        return setup_uv()
    if action == "upload-artifact":
        return upload_artifact()
    if action == "download-artifact":
        return download_artifact()
    if action == "create-github-app-token":
        return create_github_app_token()
    _record(action)  # cache, setup-node: nothing to do here
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
