"""Stand-ins for what cannot run on this machine, behind the project's own interfaces.

`DirectoryEngine` is a container engine and registry kept in a directory (`FAKE_IMAGE_REGISTRY`):
`build` stores the build context under the sha256 of its content, `push` names it by that digest,
and `run` starts the context's own `CMD` from deploy/Dockerfile (`python -m pipelines serve ...`)
in that copy, on 127.0.0.1, with this interpreter in place of the image's. Select it with
`PIPELINES_CONTAINER_ENGINE=tests.fakes:DirectoryEngine`.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from pipelines.adapters import modelio
from pipelines.adapters.images import ImageError, check_digest


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DirectoryEngine:
    """pipelines.images.ContainerEngine over a directory; what it was asked is in `calls.jsonl`."""

    def __init__(self) -> None:
        self.root = Path(os.environ["FAKE_IMAGE_REGISTRY"])
        (self.root / "images").mkdir(parents=True, exist_ok=True)

    def _log(self, call: str, **fields: str) -> None:
        with (self.root / "calls.jsonl").open("a") as out:
            out.write(json.dumps({"call": call, **fields}) + "\n")

    def _tags(self) -> dict[str, str]:
        path = self.root / "tags.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def build(self, context: Path, tag: str) -> None:
        digest = "sha256:" + modelio.content_hash(context)
        stored = self.root / "images" / digest.removeprefix("sha256:")
        if not stored.exists():
            shutil.copytree(context, stored)
        (self.root / "tags.json").write_text(json.dumps({**self._tags(), tag: digest}))
        self._log("build", tag=tag, digest=digest)

    def push(self, tag: str) -> str:
        if tag not in self._tags():
            raise ImageError(f"push {tag}: no such image")
        reference = f"{tag.rsplit(':', 1)[0]}@{self._tags()[tag]}"
        with (self.root / "pushed.txt").open("a") as out:
            out.write(reference + "\n")
        self._log("push", reference=reference)
        return reference

    def pull(self, reference: str) -> None:
        _, digest = check_digest(reference)
        pushed = (self.root / "pushed.txt").read_text().split() if (self.root / "pushed.txt").exists() else []
        if reference not in pushed or not (self.root / "images" / digest.removeprefix("sha256:")).is_dir():
            raise ImageError(f"pull {reference}: manifest unknown")
        self._log("pull", reference=reference)

    def run(self, reference: str, port: int) -> str:
        self.pull(reference)
        image = self.root / "images" / check_digest(reference)[1].removeprefix("sha256:")
        cmd = json.loads(re.search(r"^CMD (\[.*\])$", (image / "Dockerfile").read_text(), re.M)[1])  # type: ignore[index]
        logs = tempfile.mkdtemp(prefix="fake-image-logs-")
        cmd = [sys.executable if cmd[0] == "python" else cmd[0], *cmd[1:]]
        cmd[cmd.index("--host") + 1], cmd[cmd.index("--port") + 1] = "127.0.0.1", str(port)
        cmd += ["--log-dir", logs]  # the cluster sets SERVE_LOG_DIRECTORY; here, a temporary directory
        process = subprocess.Popen(cmd, cwd=image, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   preexec_fn=_die_with_parent)  # fmt: skip
        self._log("run", reference=reference, pid=str(process.pid))
        return str(process.pid)

    def stop(self, handle: str) -> None:
        pid = int(handle)
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        self._log("stop", pid=handle)
