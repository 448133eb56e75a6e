"""Prediction ids and the join of predictions with their outcomes (pipelines/core/ids.py, core/feedback.py)."""

from __future__ import annotations

import time

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from deploy.feedback import make_ids, parse_feedback
from deploy.payload import RequestError
from pipelines.core import ids
from pipelines.core.feedback import join, logged_from_rows, performance
from pipelines.core.metrics import score
from pipelines.core.outcomes import latest_outcomes
from tests.helpers import bootstrap

MODEL = "ab" * 32
INTERVALS = bootstrap(300, 0.95, 1)


def test_ids_check_themselves_and_name_what_is_wrong() -> None:
    (good,) = make_ids(MODEL, 1)
    now = time.time()
    assert ids.well_formed(good) and ids.problem(good, [MODEL], 90, now) is None
    assert "check digits" in str(ids.problem(good[:-1] + ("0" if good[-1] != "0" else "1"), [MODEL], 90, now))
    assert "37 lowercase hex" in str(ids.problem("not-an-id", [MODEL], 90, now))
    assert "does not run" in str(ids.problem(good, ["cd" * 32], 90, now))
    (old,) = make_ids(MODEL, 1, now_ms=int((now - 91 * 86400) * 1000))
    assert "older than 90 days" in str(ids.problem(old, [MODEL], 90, now))
    assert len(set(make_ids(MODEL, 1000))) == 1000


def test_feedback_is_all_or_nothing_and_names_the_first_bad_item() -> None:
    good = make_ids(MODEL, 2)
    assert parse_feedback([{"id": good[0], "label": "yes"}], ["no", "yes"], [MODEL], 10, 90) == [
        {"id": good[0], "label": "yes"}
    ]
    with pytest.raises(
        RequestError, match=r'feedback\[1\]: label is not one of the model\'s classes, "no", "yes"$'
    ) as info:
        parse_feedback(
            [{"id": good[0], "label": "yes"}, {"id": good[1], "label": "maybe"}], ["no", "yes"], [MODEL], 10, 90
        )
    assert info.value.status == 422
    with pytest.raises(RequestError, match="label is not one of"):
        parse_feedback([{"id": good[0], "label": "1"}], [0, 1], [MODEL], 10, 90)  # 1, not "1"
    with pytest.raises(RequestError, match="value must be a finite number"):
        parse_feedback([{"id": good[0], "value": float("inf")}], None, [MODEL], 10, 90)
    with pytest.raises(RequestError) as too_many:
        parse_feedback([{"id": good[0], "label": "no"}] * 11, ["no", "yes"], [MODEL], 10, 90)
    assert too_many.value.status == 413


def _stream(n: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    predictions, outcomes = [], []
    for i, prediction_id in enumerate(make_ids(MODEL, n)):
        p = float(rng.random())
        predictions.append({"id": prediction_id, "ts": 1000.0 + i, "model_hash": MODEL, "output": [1 - p, p],
                            "classes": ["a", "b"], "inputs": [i]})  # fmt: skip
        if i % 3:
            outcomes.append({"id": prediction_id, "ts": 2000.0 + i, "label": "b" if rng.random() < p else "a"})
    return predictions, outcomes


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 1000), order=st.randoms(use_true_random=False), repeat=st.integers(1, 3))
def test_the_join_is_exact_and_ignores_order_and_repetition(seed: int, order, repeat: int) -> None:  # type: ignore[no-untyped-def]
    predictions, outcomes = _stream(60, seed)
    shuffled_p, shuffled_o = predictions * repeat, outcomes * repeat
    order.shuffle(shuffled_p)
    order.shuffle(shuffled_o)
    a, unmatched_a = join(logged_from_rows(predictions), latest_outcomes(outcomes))
    b, unmatched_b = join(logged_from_rows(shuffled_p), latest_outcomes(shuffled_o))
    assert sorted(a[MODEL].ids) == sorted(b[MODEL].ids) and unmatched_a == unmatched_b == 0
    assert len(a[MODEL].ids) == len(set(a[MODEL].ids)) == len(outcomes)  # each outcome matched once
    assert a[MODEL].predictions == b[MODEL].predictions == 60


def test_the_latest_outcome_for_an_id_wins_and_foreign_outcomes_are_counted() -> None:
    predictions, outcomes = _stream(10, 1)
    target = outcomes[0]["id"]
    corrected = [*outcomes, {"id": target, "ts": 9999.0, "label": "a"}, {"id": target, "ts": 1.0, "label": "b"}]
    foreign = make_ids("cd" * 32, 2)
    corrected += [{"id": i, "ts": 5000.0, "label": "a"} for i in foreign]
    joined, unmatched = join(logged_from_rows(predictions), latest_outcomes(corrected))
    assert joined[MODEL].y[list(joined[MODEL].ids).index(target)] == "a" and unmatched == 2


def test_live_metrics_equal_those_of_the_stream_they_come_from() -> None:
    predictions, outcomes = _stream(600, 2)
    joined, _ = join(logged_from_rows(predictions), latest_outcomes(outcomes))
    found = performance(joined[MODEL], "binary", 0.5, INTERVALS, {"roc_auc": 0.99}, min_rows=100)
    by_id = {p["id"]: p for p in predictions}
    y = np.array([o["label"] for o in sorted(outcomes, key=lambda o: o["id"])], dtype=object)
    out = np.array([by_id[o["id"]]["output"] for o in sorted(outcomes, key=lambda o: o["id"])])
    assert found["metrics"] == score(y, out, task="binary", classes=np.array(["a", "b"], dtype=object))
    assert found["coverage"] == pytest.approx(400 / 600) and found["labelled"] == 400
    assert found["label_delay_hours"]["median"] == pytest.approx(1000 / 3600, rel=1e-3)
    assert found["judged"] and found["below_floors"][0].startswith("roc_auc = ")
    assert found["intervals"]["roc_auc"]["low"] <= found["metrics"]["roc_auc"] <= found["intervals"]["roc_auc"]["high"]


def _rows(outputs: list, outcomes: list, model: str = MODEL, classes: list | None = None, role: str = "champion"):  # type: ignore[no-untyped-def]
    made = make_ids(MODEL, len(outputs), now_ms=1_000_000)
    predictions = [{"id": i, "ts": 1000.0, "model_hash": model, "output": o, "classes": classes, "inputs": [],
                    "role": role} for i, o in zip(made, outputs, strict=True)]  # fmt: skip
    field = "value" if classes is None else "label"
    answers = [{"id": i, "ts": 1000.0 + 3600, field: y} for i, y in zip(made, outcomes, strict=True)]
    return made, predictions, answers


@settings(max_examples=20, deadline=None)
@given(n=st.integers(20, 200), right=st.floats(0.1, 0.9), classes=st.integers(2, 4), seed=st.integers(0, 99))
def test_live_accuracy_is_the_share_of_outcomes_the_stream_was_made_to_get_right(
    n: int, right: float, classes: int, seed: int
) -> None:
    """A stream where exactly k of n predictions name the true class: live accuracy is k/n, whatever the
    probabilities; label delay is the hour the outcomes were made to take."""
    rng = np.random.default_rng(seed)
    names = [f"c{j}" for j in range(classes)]
    k = round(right * n)
    truth = [names[j] for j in rng.integers(0, classes, n)]
    truth[:2] = names[:2]  # both of the first two classes seen
    outputs, labels = [], []
    for i, y in enumerate(truth):
        predicted = y if i < k else names[(names.index(y) + 1) % classes]
        p = rng.dirichlet(np.ones(classes)) * 0.5
        p[names.index(predicted)] += 0.5 + 1e-6  # the argmax, whatever the rest
        outputs.append((p / p.sum()).tolist())
        labels.append(y)
    _, predictions, answers = _rows(outputs, labels, classes=names)
    joined, unmatched = join(logged_from_rows(predictions), latest_outcomes(answers))
    task = "binary" if classes == 2 else "multiclass"
    found = performance(joined[MODEL], task, 0.5, INTERVALS, {}, min_rows=10)
    if task == "multiclass":
        assert found["metrics"]["accuracy"] == pytest.approx(k / n, abs=1e-6)  # metrics.json precision
    else:  # binary reports recall and precision: at the 0.5 threshold the right ones are the argmax
        y = np.array(labels) == "c1"
        hit = np.array([i < k for i in range(n)])
        assert found["metrics"]["recall"] == pytest.approx((y & hit).sum() / y.sum(), abs=1e-6)
    assert found["coverage"] == 1.0 and unmatched == 0
    assert found["label_delay_hours"] == {"median": 1.0, "p90": 1.0}


@settings(max_examples=20, deadline=None)
@given(n=st.integers(10, 200), offset=st.floats(0.01, 100), seed=st.integers(0, 99))
def test_live_rmse_and_mae_are_the_offset_the_outcomes_were_made_with(n: int, offset: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    predicted = rng.normal(0, 10, n).tolist()
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    outcomes = (np.asarray(predicted) + signs * offset).tolist()
    _, predictions, answers = _rows(predicted, outcomes)
    joined, _ = join(logged_from_rows(predictions), latest_outcomes(answers))
    found = performance(joined[MODEL], "regression", 0.5, INTERVALS, {"mae": offset / 2}, min_rows=5)
    assert found["metrics"]["rmse"] == pytest.approx(offset, abs=1e-6)
    assert found["metrics"]["mae"] == pytest.approx(offset, abs=1e-6)
    assert found["below_floors"] == [f"mae = {found['metrics']['mae']:.4f} is above the ceiling {offset / 2:.4f} "
                                     f"on {n} labelled live rows"]  # fmt: skip


def test_a_challenger_closer_to_the_outcomes_is_better_on_the_same_rows_and_a_copy_is_indistinguishable() -> None:
    from pipelines.core.feedback import compare_models

    rng = np.random.default_rng(0)
    truth = rng.normal(0, 10, 300)
    champion_out = (truth + rng.normal(0, 5, 300)).tolist()
    challenger_out = (truth + rng.normal(0, 1, 300)).tolist()
    _, champion_rows, answers = _rows(champion_out, truth.tolist())
    challenger_rows = [{**row, "model_hash": "cd" * 32, "output": o, "role": "challenger"}
                       for row, o in zip(champion_rows, challenger_out, strict=True)]  # fmt: skip
    joined, unmatched = join(logged_from_rows([*challenger_rows, *champion_rows]), latest_outcomes(answers))
    assert unmatched == 0 and {j.role for j in joined.values()} == {"champion", "challenger"}
    found = compare_models(joined[MODEL], joined["cd" * 32], "regression", 0.5, INTERVALS, min_rows=100)
    assert found is not None and found["rows"] == 300 and found["judged"]
    assert found["verdict"] == {"r2": "better", "rmse": "better", "mae": "better"}
    assert found["difference"]["rmse"]["difference"] < 0
    same = compare_models(joined[MODEL], joined[MODEL], "regression", 0.5, INTERVALS, min_rows=100)
    assert same is not None and set(same["verdict"].values()) == {"not distinguishable"}
    assert all(entry == {"difference": 0.0, "low": 0.0, "high": 0.0} for entry in same["difference"].values())


def test_the_monitors_gauges_are_written_for_a_textfile_collector_and_pushed_to_a_pushgateway(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Pushgateway is a Go binary not installable here: a stand-in on 127.0.0.1 records what is pushed."""
    import http.server
    import threading

    from pipelines.adapters.metrics_export import write_prometheus

    pushed: list[tuple[str, str, bytes]] = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # the stdlib handler's name for PUT
            pushed.append((self.command, self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        live = [{"model_hash": MODEL, "role": "champion", "labelled": 40, "coverage": 0.4, "metrics": {"f1": 0.75}}]
        verdict = {"live": live, "features": {"age": {"drifted": True}}, "alert": True}
        write_prometheus(str(tmp_path / "m.prom"), verdict, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    text = (tmp_path / "m.prom").read_text()
    assert f'gitops_ml_live_metric{{metric="f1",model_hash="{MODEL[:12]}",role="champion"}} 0.75' in text
    assert 'gitops_ml_feature_drift{feature="age"} 1.0' in text and "gitops_ml_monitor_alert 1.0" in text
    ((method, path, body),) = pushed
    assert (method, path) == ("PUT", "/metrics/job/gitops-ml-monitor")
    assert b"gitops_ml_live_label_coverage" in body


def test_one_rule_for_an_outcome_sent_twice_latest_time_then_later_record() -> None:
    """`monitor`'s join and `feedback import` share latest_outcomes: the later time wins; on equal times the
    record read later (a file's later row, the log's later line), whatever the outcomes' text."""
    first, second = make_ids(MODEL, 2)
    sent = [{"id": first, "ts": 5.0, "label": "b"}, {"id": first, "ts": 5.0, "label": "a"},
            {"id": second, "ts": 9.0, "label": "a"}, {"id": second, "ts": 2.0, "label": "b"}]  # fmt: skip
    assert latest_outcomes(sent) == {first: (5.0, "a"), second: (9.0, "a")}
    assert latest_outcomes(sent[1::-1] + sent[2:])[first] == (5.0, "b")
