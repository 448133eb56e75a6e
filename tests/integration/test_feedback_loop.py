"""The loop closed, end to end on the project's own data: the real service on 127.0.0.1 hands out ids, takes
outcomes for them, scores a challenger in shadow; `monitor` joins predictions with outcomes and scores them like
the holdout; `feedback import` brings outcomes from a file; `ingest` turns labelled live rows into training data."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core import ids
from pipelines.core.metrics import score
from pipelines.core.tasks import task_spec
from tests.helpers.project import CONTRACT, FEATURES, PARAMS, Repo, cripple
from tests.helpers.service import Server, json_rows

pytestmark = pytest.mark.slow
TASK = CONTRACT.task
FIELD = "value" if TASK == "regression" else "label"


@pytest.fixture(scope="module")
def crippled(trained_repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """A copy of the trained repository whose model has learnt next to nothing (tests.helpers.project.cripple)."""
    repo = trained_repo.copy(tmp_path_factory.mktemp("crippled") / "repo")
    cripple(repo)
    repo.dvc("repro")
    return repo


def _challenger(repo: Repo, out: Path) -> tuple[Path, str]:
    """`repo`'s model laid out as image-context --challenger-rev lays it out; and its hash."""
    manifest = json.loads((repo.path / "models" / "manifest.json").read_text())
    shutil.copytree(repo.path / "models" / "model", out / "model")
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "release.json").write_text(json.dumps({"model_version": "candidate", "git_commit": "c", "data_hash": "d"}))
    return out, str(manifest["content_hash"])


def _http(url: str, payload: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _predict(server: Server, frame: pd.DataFrame) -> tuple[list[str], list[Any]]:
    """Every row of `frame` through /invocations, 25 per request: the ids and the outputs (probabilities or values)."""
    rows, got_ids, outputs = json_rows(frame[FEATURES]), [], []
    for start in range(0, len(rows), 25):
        status, body = _http(f"{server.url}/invocations", {"instances": rows[start : start + 25]})
        assert status == 200, body
        got_ids += body["ids"]
        outputs += body["probabilities"] if TASK != "regression" else body["predictions"]
    return got_ids, outputs


def _truth(frame: pd.DataFrame) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in frame[CONTRACT.target]]


def _send(server: Server, outcomes: list[tuple[str, Any]]) -> None:
    for start in range(0, len(outcomes), 500):
        chunk = [{"id": i, FIELD: y} for i, y in outcomes[start : start + 500]]
        status, body = _http(f"{server.url}/feedback", chunk)
        assert status == 200 and body == {"accepted": len(chunk)}, body


@dataclass
class Shadowed:
    """What a served run left behind: the two logs, both models' hashes, the ids handed out and the outputs."""

    logs: Path
    feedback: Path
    champion_hash: str
    challenger_hash: str
    ids: list[str]
    outputs: list[Any]


def _shadowed(
    champion: Repo, challenger: Repo, tmp: Path, frame: pd.DataFrame, labelled: list[int],
    during: Callable[[Server, Shadowed], None] | None = None,
) -> Shadowed:  # fmt: skip
    """Serve `champion` with `challenger`'s model in shadow, logging under `tmp`; predict every row of `frame`,
    send the true outcome of the rows in `labelled`, run `during` (more requests), stop (flushing both logs)."""
    laid_out, challenger_hash = _challenger(challenger, tmp / "challenger")
    logs, feedback = tmp / "logs", tmp / "feedback"
    server = Server(champion, "--log-dir", str(logs), "--feedback-dir", str(feedback), "--challenger", str(laid_out))
    try:
        server.wait_ready()
        champion_hash = json.loads(urllib.request.urlopen(f"{server.url}/version").read())["model_hash"]
        got_ids, outputs = _predict(server, frame)
        truth = _truth(frame)
        _send(server, [(got_ids[i], truth[i]) for i in labelled])
        served = Shadowed(logs, feedback, champion_hash, challenger_hash, got_ids, outputs)
        if during is not None:
            during(server, served)
    finally:
        server.stop()
    return served


def _monitor(repo: Repo, logs: Path, feedback: Path, tmp: Path, name: str) -> tuple[dict[str, Any], str]:
    verdict, report = tmp / f"{name}.json", tmp / f"{name}.md"
    repo.pipelines("monitor", "--logs", str(logs), "--feedback", str(feedback), "--verdict", str(verdict),
                   "--out", str(report), "--prometheus", str(tmp / f"{name}.prom"))  # fmt: skip
    return json.loads(verdict.read_text()), report.read_text()


def _degraded(truth: list[Any], outputs: list[Any], seed: int) -> list[Any]:
    """Classification: 30% of the labels flipped to another class; regression: outcomes shifted by two
    standard deviations of the residuals."""
    rng = np.random.default_rng(seed)
    if TASK == "regression":
        residuals = np.asarray(truth, dtype=float) - np.asarray(outputs, dtype=float)
        return [float(y) + 2 * float(residuals.std()) for y in truth]
    classes = sorted(set(truth), key=str)
    flipped = list(truth)
    for i in rng.choice(len(truth), int(0.3 * len(truth)), replace=False):
        flipped[i] = rng.choice([c for c in classes if c != truth[i]]).item()
    return flipped


def test_live_outcomes_are_scored_like_the_holdout_and_a_degraded_stream_alerts(
    trained_repo: Repo, crippled: Repo, tmp_path: Path, project_frame: pd.DataFrame
) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    truth = _truth(project_frame)
    labelled = np.flatnonzero(np.random.default_rng(7).random(len(project_frame)) < 0.8).tolist()

    def more(server: Server, served: Shadowed) -> None:
        got_ids = served.ids
        assert len(set(got_ids)) == len(project_frame) and all(i[:12] == served.champion_hash[:12] for i in got_ids)
        # MLflow's own client still reads the response
        parsed = ScoringServerClient("127.0.0.1", server.port).invoke(project_frame[FEATURES].head(3))
        assert len(parsed.get_predictions()) == 3
        never_logged = ids.compose(served.champion_hash, int(time.time() * 1000), b"\1" * 5)
        _send(server, [(never_logged, truth[0])])
        status, body = _http(f"{server.url}/feedback", [{"id": got_ids[0], FIELD: "certainly not an outcome"}])
        assert status == 422 and "feedback[0]" in body["message"]
        status, _ = _http(f"{server.url}/feedback", [{"id": got_ids[0][:-2], FIELD: truth[0]}])
        assert status == 422

    served = _shadowed(trained_repo, crippled, tmp_path, project_frame, labelled, more)
    logs, feedback, got_ids, outputs = served.logs, served.feedback, served.ids, served.outputs
    champion_hash, challenger_hash = served.champion_hash, served.challenger_hash

    verdict, report = _monitor(trained_repo, logs, feedback, tmp_path, "calm")
    champion, shadow = verdict["live"]
    assert (champion["role"], champion["model_hash"]) == ("champion", champion_hash)
    assert (shadow["role"], shadow["model_hash"]) == ("challenger", challenger_hash)
    n = len(project_frame) + 3  # and the 3 rows MLflow's client sent
    assert champion["predictions"] == n and champion["labelled"] == len(labelled) and shadow["predictions"] == n
    assert champion["coverage"] == round(len(labelled) / n, 6) and champion["unmatched"] == 1
    first_record = json.loads(sorted(logs.glob("predictions-*.jsonl"))[0].read_text().splitlines()[0])
    classes = None if TASK == "regression" else np.asarray(first_record["classes"], dtype=object)
    y = np.asarray([truth[i] for i in labelled], dtype=float if TASK == "regression" else object)
    expected = score(y, np.asarray([outputs[i] for i in labelled], dtype=float), task=TASK, classes=classes,
                     threshold=PARAMS.evaluate.threshold)  # fmt: skip
    for metric, value in expected.items():
        assert champion["metrics"][metric] == pytest.approx(value, abs=1e-9), metric
        low, high = champion["intervals"][metric]["low"], champion["intervals"][metric]["high"]
        assert low - 1e-6 <= value <= high + 1e-6, metric
    assert champion["below_floors"] == [] and champion["judged"] and verdict["alert"] is False
    comparison = verdict["comparison"]
    assert comparison["rows"] == len(labelled) and comparison["challenger"] == challenger_hash
    # a constant model is worse on the primary metric on any table (on an imbalanced one it may be better on
    # accuracy: predicting the majority class is)
    assert comparison["verdict"][task_spec(TASK).primary] == "worse", comparison["verdict"]
    assert "## Live performance" in report and "Champion vs challenger" in report and "xychart-beta" in report
    prometheus = (tmp_path / "calm.prom").read_text()
    primary = task_spec(TASK).primary
    assert (
        f'gitops_ml_live_metric{{metric="{primary}",model_hash="{champion_hash[:12]}",role="champion"}}' in prometheus
    )
    assert "gitops_ml_monitor_alert 0.0" in prometheus

    # the same predictions judged against a degraded stream, imported from a file (twice: nothing changes)
    degraded = _degraded([truth[i] for i in labelled], [outputs[i] for i in labelled], seed=3)
    table = tmp_path / "outcomes.parquet"
    pd.DataFrame({"prediction_id": [got_ids[i] for i in labelled], CONTRACT.target: degraded}).to_parquet(table)
    imported = tmp_path / "imported"
    for _ in range(2):
        trained_repo.pipelines("feedback", "import", "--file", str(table), "--id-column", "prediction_id",
                               "--to", str(imported))  # fmt: skip
    first = {p.name: p.read_bytes() for p in imported.iterdir()}
    again = trained_repo.pipelines("feedback", "import", "--file", str(table), "--id-column", "prediction_id",
                                   "--to", str(imported))  # fmt: skip
    assert "imported already" in again.stderr and {p.name: p.read_bytes() for p in imported.iterdir()} == first
    assert len(first) == 1
    verdict, report = _monitor(trained_repo, logs, imported, tmp_path, "degraded")
    assert verdict["alert"] is True and verdict["live"][0]["below_floors"], verdict["live"][0]
    assert "⚠️" in report and "gitops_ml_monitor_alert 1.0" in (tmp_path / "degraded.prom").read_text()


def test_a_better_challenger_shows_as_better_in_monitor_and_in_the_promotion_body(
    trained_repo: Repo, crippled: Repo, tmp_path: Path, project_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.adapters.params import load_params
    from pipelines.jobs.live import promotion_section

    served = _shadowed(crippled, trained_repo, tmp_path, project_frame, list(range(len(project_frame))))
    logs, feedback, challenger_hash, champion_hash = (
        served.logs,
        served.feedback,
        served.challenger_hash,
        served.champion_hash,
    )
    verdict, _ = _monitor(crippled, logs, feedback, tmp_path, "shadow")
    verdicts = verdict["comparison"]["verdict"]
    assert verdicts[task_spec(TASK).primary] == "better", verdicts  # the primary metric: see the test above

    crippled.set_param("monitor.logs", str(logs))
    crippled.set_param("monitor.feedback", str(feedback))
    monkeypatch.chdir(crippled.path)
    params = load_params(str(crippled.path / "params.yaml"))
    body = promotion_section(params, challenger_hash, champion_hash)
    primary_row = next(line for line in body.splitlines() if line.startswith(f"| `{task_spec(TASK).primary}`"))
    assert "Champion vs challenger on live outcomes" in body and "| better |" in primary_row.replace("  ", " ")
    assert promotion_section(params, "e" * 64, champion_hash) == "", "only the candidate that ran in shadow"


def test_labelled_live_rows_become_a_batch_once(repo_copy: Repo, tmp_path: Path, project_frame: pd.DataFrame) -> None:
    """ingest.feedback: the predicted rows whose outcomes came back are validated and appended like any other
    batch; a second ingest with no new outcome adds nothing; a new outcome adds only its row."""
    logs, feedback = tmp_path / "logs", tmp_path / "feedback"
    sample = project_frame.sample(60, random_state=5).reset_index(drop=True)
    server = Server(repo_copy, "--log-dir", str(logs), "--feedback-dir", str(feedback))
    try:
        server.wait_ready()
        got_ids, _ = _predict(server, sample)
        truth = _truth(sample)
        _send(server, [(got_ids[i], truth[i]) for i in range(50)])
    finally:
        server.stop()
    for key, value in (("ingest.feedback", True), ("monitor.logs", str(logs)), ("monitor.feedback", str(feedback))):
        repo_copy.set_param(key, value)
    before = repo_copy.path.joinpath("data.dvc").read_text()
    first = repo_copy.pipelines("ingest")
    unseen = [n for n, c in CONTRACT.raw.columns.items() if n not in {*FEATURES, CONTRACT.target} and c.required]
    if unseen:  # columns the schema requires that the service never sees (an identifier, a timestamp)
        assert "0 new (0 rows), 0 already ingested, 1 quarantined" in first.stderr, first.stderr
        (report,) = (repo_copy.path / "quarantine").glob("*/report.json")
        named = {v for case in json.loads(report.read_text())["failed_checks"] for v in case["values"]}
        assert named == set(unseen) and repo_copy.path.joinpath("data.dvc").read_text() == before
        return
    assert "1 new (50 rows)" in first.stderr, first.stderr
    assert repo_copy.path.joinpath("data.dvc").read_text() != before
    (batch,) = sorted((repo_copy.path / "data").glob("batch-*.csv"))
    added = pd.read_csv(batch)
    assert len(added) == 50 and set(added.columns) == {*FEATURES, CONTRACT.target}
    second = repo_copy.pipelines("ingest")
    assert "0 new (0 rows)" in second.stderr and len(list((repo_copy.path / "data").glob("batch-*.csv"))) == 1
    server = Server(repo_copy, "--log-dir", str(logs), "--feedback-dir", str(feedback))
    try:
        server.wait_ready()
        _send(server, [(got_ids[55], truth[55])])
    finally:
        server.stop()
    third = repo_copy.pipelines("ingest")
    assert "1 new (1 rows)" in third.stderr and len(list((repo_copy.path / "data").glob("batch-*.csv"))) == 2


def test_the_loop_through_an_object_store_and_a_database(
    trained_repo: Repo, tmp_path: Path, project_frame: pd.DataFrame
) -> None:
    """Replicas write their logs to S3 (moto's server on 127.0.0.1); outcomes come from the API and from a
    PostgreSQL query (`feedback import`, twice: nothing changes); `monitor` reads both logs from the bucket."""
    from sqlalchemy import create_engine

    from tests.stack import BUCKET, KEYS, S3, PostgreSQL

    s3, database = S3(), PostgreSQL()
    try:
        env = {**trained_repo.env, **KEYS, "FSSPEC_S3_ENDPOINT_URL": s3.url, "OUTCOMES_URL": database.url}
        repo = Repo(trained_repo.path, env)
        logs, feedback = f"s3://{BUCKET}/predictions/production", f"s3://{BUCKET}/feedback/production"
        sample = project_frame.sample(200, random_state=11).reset_index(drop=True)
        server = Server(repo, "--log-dir", logs, "--feedback-dir", feedback)
        try:
            server.wait_ready()
            got_ids, _ = _predict(server, sample)
            truth = _truth(sample)
            _send(server, [(got_ids[i], truth[i]) for i in range(100)])
        finally:
            server.stop()  # writes both logs out to the bucket
        engine = create_engine(database.url)
        try:
            later = pd.DataFrame({"prediction": got_ids[100:150], "outcome": truth[100:150]})
            later.to_sql("outcomes", engine, index=False)
        finally:
            engine.dispose()
        command = ["feedback", "import", "--sql-url-env", "OUTCOMES_URL", "--query",
                   "SELECT prediction, outcome FROM outcomes", "--id-column", "prediction", "--outcome-column",
                   "outcome", "--to", feedback]  # fmt: skip
        for attempt in range(2):
            result = repo.pipelines(*command)
            assert ("imported already" in result.stderr) == (attempt == 1), result.stderr
        verdict = tmp_path / "verdict.json"
        repo.pipelines("monitor", "--logs", logs, "--feedback", feedback, "--verdict", str(verdict),
                       "--out", str(tmp_path / "monitor.md"))  # fmt: skip
        (live,) = json.loads(verdict.read_text())["live"]
        assert (live["predictions"], live["labelled"], live["coverage"], live["unmatched"]) == (200, 150, 0.75, 0)
    finally:
        s3.stop()
        database.remove()
