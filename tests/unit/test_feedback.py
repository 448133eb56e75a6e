"""Prediction ids and the join of predictions with their outcomes (pipelines/core/ids.py, core/feedback.py)."""

from __future__ import annotations

import time

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from deploy.feedback import make_ids, parse_feedback
from deploy.scoring import RequestError
from pipelines.core import ids
from pipelines.core.evaluate import score
from pipelines.core.feedback import join, latest_outcomes, performance
from pipelines.core.intervals import Settings

MODEL = "ab" * 32
INTERVALS = Settings(300, 0.95, 1)


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
    with pytest.raises(RequestError, match=r"feedback\[1\]: label is not one of the model's 2 classes") as info:
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
    a, unmatched_a = join(predictions, latest_outcomes(outcomes))
    b, unmatched_b = join(shuffled_p, latest_outcomes(shuffled_o))
    assert sorted(a[MODEL].ids) == sorted(b[MODEL].ids) and unmatched_a == unmatched_b == 0
    assert len(a[MODEL].ids) == len(set(a[MODEL].ids)) == len(outcomes)  # each outcome matched once
    assert a[MODEL].predictions == b[MODEL].predictions == 60


def test_the_latest_outcome_for_an_id_wins_and_foreign_outcomes_are_counted() -> None:
    predictions, outcomes = _stream(10, 1)
    target = outcomes[0]["id"]
    corrected = [*outcomes, {"id": target, "ts": 9999.0, "label": "a"}, {"id": target, "ts": 1.0, "label": "b"}]
    foreign = make_ids("cd" * 32, 2)
    corrected += [{"id": i, "ts": 5000.0, "label": "a"} for i in foreign]
    joined, unmatched = join(predictions, latest_outcomes(corrected))
    assert joined[MODEL].y[joined[MODEL].ids.index(target)] == "a" and unmatched == 2


def test_live_metrics_equal_those_of_the_stream_they_come_from() -> None:
    predictions, outcomes = _stream(600, 2)
    joined, _ = join(predictions, latest_outcomes(outcomes))
    found = performance(joined[MODEL], "binary", 0.5, INTERVALS, {"roc_auc": 0.99}, min_rows=100)
    by_id = {p["id"]: p for p in predictions}
    y = np.array([o["label"] for o in sorted(outcomes, key=lambda o: o["id"])], dtype=object)
    out = np.array([by_id[o["id"]]["output"] for o in sorted(outcomes, key=lambda o: o["id"])])
    assert found["metrics"] == score(y, out, task="binary", classes=np.array(["a", "b"], dtype=object))
    assert found["coverage"] == pytest.approx(400 / 600) and found["labelled"] == 400
    assert found["label_delay_hours"]["median"] == pytest.approx(1000 / 3600, rel=1e-3)
    assert found["judged"] and found["below_floors"][0].startswith("roc_auc = ")
    assert found["intervals"]["roc_auc"]["low"] <= found["metrics"]["roc_auc"] <= found["intervals"]["roc_auc"]["high"]
