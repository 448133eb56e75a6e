"""Merge -> record -> promote -> deploy, end to end, across machines whose CPUs differ.

The author's machine and each workflow runner are separate clones of one bare `origin`, with real
git, real dvc and a real DVC remote (a local directory), a real `mlflow server` on 127.0.0.1, and the
container engine replaced by tests.fakes.DirectoryEngine (no engine runs here). The runner of the main
workflow trains with another OpenBLAS kernel than the author (conftest.other_blas_kernel), so its
model of record has other bytes than the ones main's dvc.lock names. Every later step must deploy
exactly that artifact: the hash the promotion gate scored is the hash staging and production load.

The tests share one project and run in order, like the life of a project.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.core.metrics import LOWER_IS_BETTER
from tests.helpers.project import PARAMS, Repo, cripple, nudge, other_blas_kernel
from tests.helpers.service import Server, die_with_parent, free_port, wait_http_ok

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("promotion")]
NAME = PARAMS.environments.model_name
FIRST, LAST = PARAMS.environments.order[0].name, PARAMS.environments.order[-1].name
IMAGE = "ghcr.io/acme/churn"
RUNNER = other_blas_kernel()  # the main workflow's runner: another OpenBLAS kernel than the author's


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--default-artifact-root", str(root / "artifacts"),
           "--workers", "1"]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=die_with_parent, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/health", timeout=60, process=process)
        yield url
    finally:
        os.killpg(os.getpgid(process.pid), signal.SIGTERM)
        process.wait(20)


class Project:
    """The author's repository and the machines the workflows run on, sharing origin and the DVC remote."""

    def __init__(self, author: Repo, root: Path):
        self.author, self.root = author, root
        self.origin = author.git("remote", "get-url", "origin").stdout.strip()
        self.remote = root / "dvc-remote"
        self.registry = root / "image-registry"
        self.runs = 0

    def runner(self, branch: str, kernel: str | None = None) -> Repo:
        """A fresh checkout of `branch` from origin, as actions/checkout with fetch-depth: 0 makes it, on a
        machine with the author's CPU kernel or `kernel`."""
        self.runs += 1
        path = self.root / f"runner-{self.runs}"
        subprocess.run(["git", "clone", "-q", self.origin, str(path)], check=True, env=self.author.env)
        env = {**self.author.env, "DVC_SITE_CACHE_DIR": str(self.root / f"dvc-site-{self.runs}")}
        repo = Repo(path, {**env, "OPENBLAS_CORETYPE": kernel} if kernel else env)
        repo.git("checkout", "-q", branch)
        return repo

    def merge(self, head: str, base: str) -> None:
        """What the merge button does to a promotion pull request (a merge commit), pushed to origin."""
        self.author.git("fetch", "-q", "origin")
        self.author.git("checkout", "-q", "-B", base, f"origin/{base}")
        self.author.git("merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", f"origin/{head}")
        self.author.git("push", "-q", "origin", base)
        self.author.git("checkout", "-q", "main")


@pytest.fixture(scope="module")
def project(trained_repo: Repo, mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("promotion")
    author = trained_repo.copy(root / "author")
    life = Project(author, root)
    author.env = {**author.env, "MLFLOW_TRACKING_URI": mlflow_server,
                  "PIPELINES_CONTAINER_ENGINE": "tests.fakes:DirectoryEngine",
                  "FAKE_IMAGE_REGISTRY": str(life.registry)}  # fmt: skip
    author.dvc("remote", "add", "-d", "storage", str(life.remote))
    author.git("commit", "-q", "-am", "DVC remote")
    author.dvc("push", "-q", "data.dvc")  # the author shares the data; the model is built after the merge
    for env in (FIRST, LAST):  # what `python -m pipelines setup` creates
        author.git("branch", "-f", env, "main")
    author.git("push", "-q", "origin", "main", FIRST, LAST)
    return life


def _output(repo: Repo, *args: str) -> dict[str, str]:
    """Run a pipelines command with --github-output; the key=value lines it wrote."""
    path = repo.path.parent / f"{repo.path.name}-github-output"
    path.unlink(missing_ok=True)
    repo.pipelines(*args, "--github-output", str(path))
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def _show_json(repo: Repo, rev: str, path: str) -> dict:
    return json.loads(repo.git("show", f"{rev}:{path}").stdout)


def _main_workflow(project: Project, runner: Repo | None = None) -> Repo:
    """main.yml's steps, in order, on a fresh runner with another CPU kernel than the author's (or on `runner`)."""
    runner = runner or project.runner("main", RUNNER)
    runner.pipelines("bootstrap")
    reproduced = runner.pipelines("reproduce")
    assert "[reproduce] reproduced:" in reproduced.stderr, reproduced.stderr
    assert _output(runner, "record", "--after", "main")["stored"] == "true"
    early = runner.pipelines("promote", "--after", "main", check=False)  # before the image and the verdict
    assert early.returncode == 1 and "is not a complete record" in early.stderr
    _output(runner, "build-image", "--after", "main", "--image", IMAGE)
    runner.pipelines("promotion-gate", "--after", "main", "--record", "--report", "reports/promotion.md",
                     "--report-only")  # fmt: skip
    runner.pipelines("promote", "--after", "main", "--body", "reports/promotion.md")
    return runner


def _deploy_workflow(project: Project, env: str) -> tuple[Repo, dict[str, str]]:
    """deploy.yml's steps on a fresh runner checked out at `env`."""
    runner = project.runner(env)
    outputs = _output(runner, "deploy", "--env", env)
    runner.pipelines("promotion-gate", "--after", env, "--candidate", "HEAD", "--record", "--report",
                     "reports/promotion.md", "--report-only")  # fmt: skip
    runner.pipelines("promote", "--after", env, "--body", "reports/promotion.md")
    return runner, outputs


def _declared(repo: Repo, rev: str, env: str) -> str | None:
    """The image (name@digest) `env`'s Kubernetes overlay declares at `rev`; None while it is unpromoted."""
    import yaml

    text = repo.git("show", f"{rev}:deploy/k8s/overlays/{env}/kustomization.yaml").stdout
    data = yaml.safe_load(text)
    image = data["images"][0]
    if "digest" not in image:
        assert "../../components/unpromoted" in data.get("components", []), "no digest, yet not unpromoted"
        return None
    labels = {k: v for e in data.get("labels", []) for k, v in e["pairs"].items()}
    assert labels["gitops-ml/model-hash"] == data["commonAnnotations"]["gitops-ml/model-content-hash"][:12]
    return f"{image['newName']}@{image['digest']}"


def _alias(url: str, alias: str) -> tuple[str, str]:
    from mlflow import MlflowClient

    version = MlflowClient(tracking_uri=url).get_model_version_by_alias(NAME, alias)
    return str(version.version), version.tags["model_hash"]


def _loaded_hash(repo: Repo, env: str) -> str:
    """In `repo`: the hash releases.fetch_model verifies for `env`, after load_model(env) loaded it."""
    code = (
        "import sys, tempfile; from pathlib import Path; from pipelines.adapters import releases as registry; "
        "registry.load_model(sys.argv[1]); print(registry.fetch_model(sys.argv[1], Path(tempfile.mkdtemp()) / 'm'))"
    )
    return repo.run(sys.executable, "-c", code, env).stdout.strip()


def test_1_the_main_workflow_builds_the_model_of_record_once_and_records_it_on_promote(
    project: Project, mlflow_server: str
) -> None:
    """After the merge, another CPU rebuilds the model (other bytes, same numbers); promote/<env> records it,
    its image digest and the verdict; main is left as it was."""
    main_manifest = _show_json(project.author, "origin/main", "models/manifest.json")
    runner = _main_workflow(project)
    record = f"origin/promote/{FIRST}"
    runner.git("fetch", "-q", "origin")
    manifest = _show_json(runner, record, "models/manifest.json")
    built = json.loads((runner.path / "models" / "manifest.json").read_text())
    assert manifest == built, "the record must carry the manifest of the model the runner built"
    assert _show_json(runner, "origin/main", "models/manifest.json") == main_manifest
    release = _show_json(runner, record, "models/release.json")
    pushed = (project.registry / "pushed.txt").read_text().split()
    assert pushed == [release["image"]] and release["image"].startswith(f"{IMAGE}@sha256:")
    assert release["model_hash"] == manifest["content_hash"]
    assert release["source_commit"] == runner.git("rev-parse", "origin/main").stdout.strip()
    verdict = _show_json(runner, record, "models/promotion.json")
    assert verdict["candidate"]["model_hash"] == manifest["content_hash"] and verdict["passed"] is True
    assert verdict["champion"]["model_hash"] is None  # the first release
    assert _alias(mlflow_server, "candidate") == ("1", manifest["content_hash"])
    # the cluster's desired state moves with the record: the first environment's overlay now runs that image
    assert _declared(runner, record, FIRST) == release["image"]
    assert _declared(runner, record, LAST) is None, "only the environment being promoted to changes"
    assert _declared(runner, "origin/main", FIRST) is None, "main never declares a deployment"
    parents = runner.git("rev-list", "--parents", "-n", "1", record).stdout.split()[1:]
    on_top_of = runner.git("rev-parse", f"origin/{FIRST}").stdout.strip()  # == main here: setup made it so
    assert parents == list(dict.fromkeys([on_top_of, release["source_commit"]]))
    if manifest["content_hash"] == main_manifest["content_hash"]:
        pytest.skip(f"the runner's OpenBLAS kernel ({RUNNER}) gave the author's model bytes on this CPU")


def test_2_the_promotion_check_accepts_the_record_and_refuses_a_forged_verdict(project: Project) -> None:
    """The pull-request check reads git only: the recorded verdict must be for this model, against what the
    environment runs now, and passed."""
    runner = project.runner(FIRST)
    base = runner.git("rev-parse", "HEAD").stdout.strip()
    runner.git("merge", "-q", "--no-ff", "-m", "the pull request's merge commit", f"origin/promote/{FIRST}")
    ok = runner.pipelines("promotion-check", "--env", FIRST, "--base", base)
    assert "passed the promotion gate" in ok.stderr

    verdict = json.loads((runner.path / "models" / "promotion.json").read_text())
    forged = {**verdict, "candidate": {**verdict["candidate"], "model_hash": "0" * 64}}
    (runner.path / "models" / "promotion.json").write_text(json.dumps(forged))
    runner.git("commit", "-q", "-am", "a verdict for another model")
    refused = runner.pipelines("promotion-check", "--env", FIRST, "--base", base, check=False)
    assert refused.returncode == 1 and "the verdict scored another model" in refused.stderr


def test_3_merging_into_the_first_environment_deploys_exactly_the_scored_artifact(
    project: Project, mlflow_server: str
) -> None:
    """deploy fetches the model from the DVC remote (verified against git), pulls the image by digest and
    smoke-tests it; load_model, `serve --env` with `smoke --url`, /version and MLflow all name the hash
    the promotion gate scored. Nothing is retrained or rebuilt."""
    project.merge(f"promote/{FIRST}", FIRST)
    scored = _show_json(project.author, f"origin/{FIRST}", "models/promotion.json")["candidate"]["model_hash"]
    runner, outputs = _deploy_workflow(project, FIRST)
    assert outputs["model_hash"] == scored and outputs["model_version"] == f"{FIRST}-v1"
    assert outputs["image"] == _show_json(runner, "HEAD", "models/release.json")["image"]
    assert not (runner.path / "models" / "model").exists(), "a deploy never builds the model in its workspace"
    calls = [json.loads(line) for line in (project.registry / "calls.jsonl").read_text().splitlines()]
    assert [c["call"] for c in calls].count("build") == 1, "the image is built once, on main"
    assert _alias(mlflow_server, FIRST) == ("1", scored)
    assert _loaded_hash(runner, FIRST) == scored

    server = Server(runner, "--env", FIRST, "--log-dir", str(project.root / "serve-logs"))
    try:
        server.wait_ready()
        runner.pipelines("smoke", "--url", server.url, "--rev", FIRST)
        version = json.loads(urllib.request.urlopen(f"{server.url}/version").read())
    finally:
        server.stop()
    assert version["model_hash"] == scored and version["model_version"] == f"{FIRST}-v1"


def test_4_the_last_environment_gets_the_same_artifact_after_its_own_check(project: Project) -> None:
    """The deploy of the first environment scored its release against the last one's and opened promote/<last>;
    merged, the last environment runs the same model hash and the same image digest."""
    runner = project.runner(LAST)
    base = runner.git("rev-parse", "HEAD").stdout.strip()
    runner.git("merge", "-q", "--no-ff", "-m", "merge", f"origin/promote/{LAST}")
    runner.pipelines("promotion-check", "--env", LAST, "--base", base)
    project.merge(f"promote/{LAST}", LAST)
    _, outputs = _deploy_workflow(project, LAST)
    first = _show_json(project.author, f"origin/{FIRST}", "models/release.json")
    last = _show_json(project.author, f"origin/{LAST}", "models/release.json")
    assert last == first and outputs["image"] == first["image"] and outputs["model_hash"] == first["model_hash"]
    table = json.loads(project.author.pipelines("registry", "--json").stdout)
    assert table[FIRST]["model_hash"] == table[LAST]["model_hash"] == first["model_hash"]
    assert table[LAST]["image"] == first["image"]
    assert _declared(project.author, f"origin/{LAST}", LAST) == first["image"]
    assert table[LAST]["overlay_image"] == table[FIRST]["overlay_image"] == first["image"]


def test_5_a_new_model_is_promoted_and_a_rollback_returns_the_previous_release(
    project: Project, mlflow_server: str
) -> None:
    """A new model of record (the model nudged: other bytes, about the same numbers) reaches the first
    environment; rolling it back restores the earlier release
    (model and image) and the deploy accepts it without a new verdict."""
    author = project.author
    nudge(author)
    author.dvc("repro", "-q")
    author.git("commit", "-q", "-am", "tune the model")
    author.git("push", "-q", "origin", "main")
    _main_workflow(project, runner=author)  # on the author's machine this time: nothing to rebuild
    project.merge(f"promote/{FIRST}", FIRST)
    runner = project.runner(FIRST)
    first = _output(runner, "deploy", "--env", FIRST)
    assert first["model_version"] == f"{FIRST}-v2"
    before = _show_json(author, f"origin/{FIRST}~1", "models/release.json")
    assert before["model_hash"] != first["model_hash"]

    author.pipelines("rollback", FIRST, "--policy", "commit")
    author.git("fetch", "-q", "origin")
    runner = project.runner(FIRST)
    check = runner.pipelines("promotion-check", "--env", FIRST, "--base", "HEAD~1")
    assert f"returns {FIRST} to v1" in check.stderr
    assert _declared(project.author, f"origin/{FIRST}~1", FIRST) == first["image"]
    outputs = _output(runner, "deploy", "--env", FIRST)
    assert outputs["image"] == before["image"] and outputs["model_hash"] == before["model_hash"]
    assert _declared(runner, "HEAD", FIRST) == before["image"], "the rollback rolls the cluster back too"
    history = json.loads(runner.pipelines("registry", "--history", FIRST, "--json").stdout)
    assert [r["version"] for r in history] == [1, 2, 1]
    assert _alias(mlflow_server, FIRST) == ("1", before["model_hash"])


def test_6_a_worse_candidate_fails_the_promotion_gate_naming_the_rule(project: Project) -> None:
    author = project.author
    author.git("checkout", "-q", "-b", "worse", "origin/main")
    cripple(author)
    author.dvc("repro", "-q")
    author.git("commit", "-q", "-am", "over-regularise")
    gate = author.pipelines("promotion-gate", "--env", FIRST, "--candidate", "worse", check=False)
    author.git("checkout", "-q", "main")
    assert gate.returncode == 1
    failed = [line for line in gate.stderr.splitlines() if "FAIL:" in line]
    assert failed and all(any(m in line for m in PARAMS.gate.floors) for line in failed)
    word = "ceiling" if all(m in LOWER_IS_BETTER for m in PARAMS.gate.floors) else "floor"
    assert any(word in line or "regressed" in line for line in failed)


def _remote_blob(project: Project, sha256: str) -> Path:
    """The file in the DVC remote whose content has this sha256 (the remote names files by md5)."""
    for path in project.remote.rglob("*"):
        if (
            path.is_file()
            and not path.name.endswith(".dir")
            and hashlib.sha256(path.read_bytes()).hexdigest() == sha256
        ):
            return path
    raise AssertionError("not in the remote")


def test_7_a_tampered_or_missing_artifact_in_the_remote_fails_the_deploy_and_nothing_is_retrained(
    project: Project,
) -> None:
    manifest = _show_json(project.author, f"origin/{FIRST}", "models/manifest.json")
    blob = _remote_blob(project, manifest["files"]["model.skops"])
    original = blob.read_bytes()
    os.chmod(blob, 0o644)
    try:
        blob.write_bytes(original[:-10] + b"0123456789")
        runner = project.runner(FIRST)
        tampered = runner.pipelines("deploy", "--env", FIRST, check=False)
        assert tampered.returncode == 1 and "changed: model.skops" in tampered.stderr

        blob.unlink()
        runner = project.runner(FIRST)
        missing = runner.pipelines("deploy", "--env", FIRST, check=False)
        assert missing.returncode == 1
        assert "from the DVC remote: it was never pushed there or has been deleted" in missing.stderr
        assert "Traceback" not in missing.stderr
        assert "Running stage" not in missing.stdout + missing.stderr
        assert not (runner.path / "models" / "model").exists()
    finally:
        blob.write_bytes(original)


def test_8_without_a_dvc_remote_the_record_says_what_to_configure_and_nothing_is_promoted(
    trained_repo: Repo, tmp_path: Path
) -> None:
    repo = trained_repo.copy(tmp_path / "repo")
    outputs = _output(repo, "record", "--after", "main")
    assert outputs == {"stored": "false"}
    result = repo.pipelines("record", "--after", "main")
    assert "no DVC remote is configured" in result.stderr and "dvc remote add -d storage" in result.stderr
    assert repo.git("branch", "--list", "promote/*").stdout == ""
    deploy = repo.pipelines("deploy", "--env", FIRST)
    assert "nothing to deploy" in deploy.stderr


TIME_BUDGET_SECONDS = 180  # the whole pipeline (`dvc repro`) after adding one input; measured here in the note


def _add_input(author: Repo, source: str) -> None:
    """A synthetic input in the data (the target plus noise: informative, so it earns its place) and the contract."""
    import numpy as np
    import pandas as pd

    from tests.helpers.project import CONTRACT

    (csv,) = sorted((author.path / "data").glob("*.csv"))
    frame = pd.read_csv(csv, keep_default_na=False, na_values=list(PARAMS.data.missing_values), dtype=str)
    y = frame[CONTRACT.target]
    signal = pd.to_numeric(y) if CONTRACT.task == "regression" else (y == sorted(y.unique())[-1]).astype(float)
    noise = np.random.default_rng(0).normal(0, 0.5 * float(signal.std()), len(frame))
    frame["added_feature"] = (signal + noise).round(4).astype(str)
    frame.to_csv(csv, index=False)
    schema = author.path / "pipelines" / "yours" / "schema.py"
    text = schema.read_text()
    field = f'    added_feature: Series[float] = pa.Field(metadata={{"source": {source!r}, "privacy": "internal"}})\n\n'
    at = text.index("    class Config:", text.index("class Features("))
    schema.write_text(text[:at] + field + text[at:])


def test_9_a_new_input_reaches_the_first_environment_and_the_pipeline_stays_within_its_time_budget(
    project: Project,
) -> None:
    """ML Test Score data 6 (new features can be added quickly): an input added to the data and the contract from
    an unapproved source is refused by `train`, naming it; from an approved one it goes through the pipeline (under
    TIME_BUDGET_SECONDS), the report (marked new, its benefit shown), the gate, record and promote: the promotion
    pull request's branch carries the new model, its verdict passed."""
    import time

    from tests.helpers.project import CONTRACT

    author = project.author
    author.git("checkout", "-q", "main")
    author.git("pull", "-q", "--ff-only", "origin", "main")
    _add_input(author, "a web scrape")
    author.dvc("add", "-q", "data")
    refused = author.dvc("repro", check=False)
    assert refused.returncode != 0
    assert "added_feature: source 'a web scrape' is not an approved source" in refused.stdout + refused.stderr
    schema = author.path / "pipelines" / "yours" / "schema.py"
    schema.write_text(schema.read_text().replace("'a web scrape'", repr(next(iter(CONTRACT.sources)))))
    started = time.perf_counter()
    author.dvc("repro", "-q")
    seconds = time.perf_counter() - started
    print(f"pipeline after adding an input: {seconds:.1f} s (budget {TIME_BUDGET_SECONDS} s)")
    assert seconds < TIME_BUDGET_SECONDS
    author.pipelines("report", "--base", "HEAD", "--out", "reports/added.md")
    report = (author.path / "reports" / "added.md").read_text()
    line = next(r for r in report.splitlines() if r.startswith("| `added_feature` |"))
    assert "🆕 new" in line and "removal does not hurt" not in line, line
    gate = author.pipelines("gate", "--base", "HEAD", check=False)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    author.git("add", "-A")
    author.git("commit", "-q", "-m", "a new input: added_feature")
    author.dvc("push", "-q")
    author.git("push", "-q", "origin", "main")
    _main_workflow(project, runner=author)
    author.git("fetch", "-q", "origin")
    verdict = _show_json(author, f"origin/promote/{FIRST}", "models/promotion.json")
    manifest = _show_json(author, "main", "models/manifest.json")
    assert verdict["candidate"]["model_hash"] == manifest["content_hash"] and verdict["passed"], verdict
    features = _show_json(author, f"origin/promote/{FIRST}", "reports/features.json")["features"]
    assert "added_feature" in [e["feature"] for e in features]
