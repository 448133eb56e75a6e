"""What runs where, from git alone, and the exact model of an environment.

Each environment is a branch. The model it runs is the one its `models/manifest.json` names
(content hash and file hashes), its `dvc.lock` points to and its `models/release.json` pairs with
the serving image by digest; promotion merges those pointers (pipelines.adapters.record), never retrains.
An environment's history is the first-parent chain of its branch: every commit that changed the
manifest and carries a release record naming that model is a release, and a model's version number
is the order in which the branch first saw it (so a rollback to version 1 shows as version 1 again).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.adapters import dvc, git, modelio, tracking
from pipelines.adapters.params import load_paths
from pipelines.adapters.revisions import data_hash_at
from pipelines.errors import PipelineError


def _path(name: str) -> str:
    """A pipeline path (model, manifest, metrics, release) as dvc.yaml defines it."""
    return load_paths()[name]


class RegistryError(PipelineError):
    """An environment, version or model cannot be resolved."""


@dataclass(frozen=True)
class Release:
    """One release of an environment: the model (by hash), the commit that released it, what it was
    trained on, its metrics, when, and the serving image by digest."""

    version: int
    model_hash: str
    commit: str
    data_hash: str
    metrics: dict[str, float]
    promoted_at: str
    subject: str
    image: str = ""  # the serving image by digest, from the release record

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`registry --json`)."""
        return asdict(self)


def _json_at(rev: str, path: str) -> Any:
    return git.show_json(rev, path, strict=True)


def branch_ref(name: str) -> str:
    """`name` if it is a local branch (or any revision), else `origin/<name>` (as in a CI checkout)."""
    return git.branch_ref(name)


def history(branch: str) -> list[Release]:
    """Every release of `branch`, oldest first (empty if the branch never had a model)."""
    manifest, metrics_path, release_path = _path("manifest"), _path("metrics"), _path("release")
    branch = branch_ref(branch)
    if git.resolve(branch) is None:
        raise RegistryError(f"branch {branch!r} does not exist (fetch it, or promote to it first)")
    releases: list[Release] = []
    versions: dict[str, int] = {}
    # the manifest or the release record changed: a model of record built on a CPU that gives the bytes
    # the branch already had changes only the release record
    for commit, when, subject in git.first_parent_log(branch, [manifest, release_path]):
        recorded = _json_at(commit, manifest)
        if not recorded:
            continue  # the manifest was deleted in this commit
        digest = recorded["content_hash"]
        release = _json_at(commit, release_path) or {}
        if release.get("model_hash") != digest:
            continue  # a model that was never released here (e.g. the commit the branch was created at)
        if releases and releases[-1].model_hash == digest:
            continue  # the file changed but not the model it names
        version = versions.setdefault(digest, len(versions) + 1)
        data_hash = data_hash_at(commit)
        metrics = _json_at(commit, metrics_path) or {}
        image = str(release.get("image", ""))
        releases.append(Release(version, digest, commit, data_hash, metrics, when, subject, image))
    return releases


def current(branch: str) -> Release | None:
    """The release `branch` runs now, or None before its first release."""
    releases = history(branch)
    return releases[-1] if releases else None


def fetch_model(rev: str, dest: Path, remote_only: bool = False) -> str:
    """Copy the model recorded at `rev` into `dest` (DVC cache or remote) and verify it against the
    manifest committed at `rev`; return its hash.

    With `remote_only`, the local DVC cache is not consulted: the bytes must come from the remote
    (proof that the remote holds them). Raises RegistryError naming what to configure when the bytes
    cannot be fetched (no DVC remote, or the remote does not hold them), and UntrustedModelError when
    they do not match the manifest. Nothing is rebuilt.
    """
    model_dir, manifest = _path("model"), _path("manifest")
    rev = branch_ref(rev)
    if git.resolve(rev) is None:
        raise RegistryError(f"unknown revision {rev!r} (fetch it, or check the branch name)")
    recorded = _json_at(rev, manifest)
    if not recorded:
        raise RegistryError(f"{rev} has no {manifest}: no model was ever trained or promoted there")
    try:
        dvc.get_at(rev, model_dir, dest, remote_only)
    except Exception as exc:  # dvc raises many types for a missing cache entry or remote
        short = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not dvc.has_remote():
            raise RegistryError(
                f"cannot fetch {model_dir} ({recorded['content_hash'][:12]}) recorded at {rev}: no DVC remote is "
                "configured (and this machine's DVC cache does not hold it). Configure one so that every workflow can "
                "fetch the model of record: `dvc remote add -d storage <url>` and commit .dvc/config "
                f"(docs/OPERATIONS.md, 'Where artifacts live'). ({short})"
            ) from None
        raise RegistryError(
            f"cannot fetch {model_dir} ({recorded['content_hash'][:12]}) recorded at {rev} from the DVC remote: it "
            "was never pushed there or has been deleted. The main workflow's `record` step pushes the model of "
            f"record; re-run it, or `dvc push` from a machine that has it. ({short})"
        ) from None
    try:
        return modelio.verify(dest, recorded)
    except modelio.UntrustedModelError as exc:
        where = "the DVC remote" if remote_only else "the DVC cache or remote"
        raise modelio.UntrustedModelError(
            f"the copy of {model_dir} that {where} holds for {rev} does not match the manifest git records there "
            f"({str(exc).split('(', 1)[-1].rstrip(')')}): it was altered after it was stored, and nothing was loaded. "
            "Restore it: `dvc push` from a machine that holds the model of record, or re-run the main workflow"
        ) from None


def commits_recording(model_hash: str) -> list[tuple[str, str]]:
    """(commit, subject) of every commit on any ref (branches, promote/<env>, origin/*, tags) whose committed
    manifest records `model_hash`, newest first; [] outside git."""
    manifest = _path("manifest")
    try:
        log = git.text("log", "--all", "--format=%H %s", "--", manifest)
    except git.GitError:
        return []
    found = []
    for line in log.splitlines():
        commit, _, subject = line.partition(" ")
        recorded = git.show_json(commit, manifest, strict=False)
        if isinstance(recorded, dict) and recorded.get("content_hash") == model_hash:
            found.append((commit, subject))
    return found


def released_as(model_hash: str, envs: list[str]) -> str | None:
    """`<env>-v<N>`: the first of `envs` (those whose branch exists here) that released `model_hash`, and as which
    version; None when none did."""
    for env in envs:
        ref = env_ref(env)
        if ref is None:
            continue
        for release in history(ref):
            if release.model_hash == model_hash:
                return f"{env}-v{release.version}"
    return None


def find_model(model_hash: str, dest: Path, registry_name: str | None = None) -> str:
    """Fetch the model whose content hash is `model_hash` into `dest` and verify it; return where it came from.

    The way a release is fetched (`fetch_model`): the newest commit on any ref whose manifest records the hash,
    its bytes from the DVC cache or remote, verified against that manifest. Failing that, and when
    `registry_name` is given and MLFLOW_TRACKING_URI is set, the MLflow registry version tagged with the hash,
    verified by hashing it. RegistryError naming the hash and every place looked at when it is in none."""
    looked = []
    commits = commits_recording(model_hash)
    for commit, subject in commits:
        shutil.rmtree(dest, ignore_errors=True)  # what an earlier attempt left
        try:
            fetch_model(commit, dest)
        except RegistryError as exc:
            looked.append(f"{commit[:12]} records it but its bytes cannot be fetched ({str(exc).split(': ', 1)[0]})")
            continue
        return f"{_path('model')} as committed at {commit[:12]} ({subject}), from the DVC cache or remote"
    if not commits:
        looked.append(f"no commit on any branch records it in {_path('manifest')}")
    if registry_name and tracking.registry_configured():
        version = tracking.download_version(registry_name, model_hash, dest)
        if version is not None:
            digest = modelio.content_hash(dest)
            if digest != model_hash:
                raise modelio.UntrustedModelError(
                    f"MLflow's {registry_name} version {version} is tagged {model_hash[:12]} but its files hash to "
                    f"{digest[:12]}: nothing was loaded"
                )
            return f"MLflow registry: {registry_name} version {version}"
        looked.append(f"the MLflow registry has no {registry_name} version tagged with it")
    elif registry_name:
        looked.append("the MLflow registry was not asked (MLFLOW_TRACKING_URI is not set)")
    raise RegistryError(f"model {model_hash} cannot be found: {'; '.join(looked)}")


def load_model(env: str) -> Any:
    """The exact model deployed to `env`, fetched through dvc.api at the branch and verified.

    The files must hash to the branch's manifest, and the model must be skops with only
    allow-listed types; anything else raises before any object is built.
    """
    with tempfile.TemporaryDirectory(prefix=f"model-{env}-") as tmp:
        fetch_model(env, Path(tmp) / "model")
        return modelio.load(Path(tmp) / "model")


def rollback_target(env: str, to_version: int | None) -> Release:
    """The release a rollback of `env` returns to: the previous model's, or version `to_version`.

    Raises RegistryError when `env` has no releases, has only ever run one model, never ran
    `to_version`, or runs `to_version` already.
    """
    releases = history(env)
    if not releases:
        raise RegistryError(f"{env} has no releases to roll back")
    now = releases[-1]
    if to_version is None:
        earlier = [r for r in releases if r.version != now.version]
        if not earlier:
            raise RegistryError(f"{env} has only ever run version {now.version}: nothing to roll back to")
        return earlier[-1]
    for release in reversed(releases):
        if release.version == to_version:
            if release.model_hash == now.model_hash:
                raise RegistryError(f"{env} already runs version {to_version}")
            return release
    raise RegistryError(f"{env} never ran version {to_version}; it ran {sorted({r.version for r in releases})}")


def env_ref(name: str) -> str | None:
    """The environment branch as this checkout knows it (local, else origin/), or None if it does not exist."""
    ref = git.branch_ref(name)
    return ref if git.resolve(ref) else None


def release_overlay(env: str, rev: str, image: str, model_hash: str) -> dict[str, bytes]:
    """The overlay file of `env` as `rev` holds it, edited to run `image` (by digest) for `model_hash`, with
    the model version `<env>-v<N>` (N: the environment's release count plus one), keyed by repository path;
    empty when `rev` has no overlay for `env` (a project that does not use the manifests)."""
    from pipelines.adapters import overlays

    path = overlays.kustomization_path(env)
    text = git.show(rev, path)
    if text is None:
        return {}
    ref = git.branch_ref(env)
    earlier = history(ref) if git.resolve(ref) else []
    version = f"{env}-v{len(earlier) + 1}"
    return {path: overlays.with_release(text, image, version, model_hash).encode()}


def age_days(when: float | None) -> float | None:
    """Days from `when` (seconds since the epoch) to now; None for None."""
    import time

    return None if when is None else (time.time() - when) / 86400


def model_ages(envs: list[str]) -> dict[str, float]:
    """Per environment with a release (its branch as `branch_ref` finds it: origin/<env> after a checkout with
    fetch-depth 0), the age in days of the model it runs: from the commit its release record names as the source
    (the main commit it was trained at), else the release commit itself."""
    ages = {}
    for env in envs:
        try:
            release = current(env)
        except RegistryError:
            continue  # no such branch here: nothing released to it yet
        if release is None:
            continue
        record = git.show_json(release.commit, _path("release"), strict=False) or {}
        age = age_days(git.commit_time(record.get("source_commit") or release.commit))
        if age is not None:
            ages[env] = age
    return ages
