"""The promotion check on a pull request into an environment: it reads git only, so every way a
recorded release or verdict can be incomplete, stale, forged or contradictory must be refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines.core.promotion import check_recorded

A, B = "a" * 64, "b" * 64
IMAGE = "ghcr.io/acme/churn@sha256:" + "1" * 64
RELEASE = {"model_hash": B, "image": IMAGE}


def _verdict(**changes: Any) -> dict[str, Any]:
    verdict = {"environment": "staging", "candidate": {"model_hash": B, "metrics": {}},
               "champion": {"model_hash": A, "metrics": {}, "source": "x"}, "passed": True, "failures": []}  # fmt: skip
    return {**verdict, **changes}


def test_a_passing_verdict_for_this_model_against_the_running_one_is_accepted() -> None:
    problems, accepted = check_recorded("staging", B, RELEASE, _verdict(), [(1, A, IMAGE)])
    assert problems == [] and f"passed the promotion gate against {A[:12]}" in accepted


@pytest.mark.parametrize(
    ("release", "verdict", "expected"),
    [
        (None, _verdict(), "no release record"),
        ([], _verdict(), "no release record"),
        ({"model_hash": A, "image": IMAGE}, _verdict(), "the release record names model"),
        ({"model_hash": B, "image": "ghcr.io/acme/churn:latest"}, _verdict(), "is not named by digest"),
        (RELEASE, None, "no promotion verdict"),
        (RELEASE, [], "no promotion verdict"),
        (RELEASE, _verdict(environment="production"), "the verdict is for 'production'"),
        (RELEASE, _verdict(candidate={"model_hash": A}), "the verdict scored another model"),
        (RELEASE, _verdict(candidate="b"), "the verdict scored another model"),
        (RELEASE, _verdict(champion={"model_hash": "c" * 64}), "re-run the workflow that opened this pull request"),
        (RELEASE, _verdict(passed=False, failures=["recall = 0.1 is below the floor 0.9"]), "recall = 0.1"),
        (RELEASE, _verdict(passed=True, failures=["recall = 0.1 is below the floor 0.9"]), "recall = 0.1"),
        (RELEASE, _verdict(passed="yes"), "promotion gate: failed"),
    ],
)
def test_an_incomplete_stale_forged_or_contradictory_record_is_refused_by_name(
    release: Any, verdict: Any, expected: str
) -> None:
    problems, _ = check_recorded("staging", B, release, verdict, [(1, A, IMAGE)])
    assert problems and any(expected in p for p in problems), problems


def test_a_return_to_an_earlier_release_needs_no_new_verdict() -> None:
    old_image = "ghcr.io/acme/churn@sha256:" + "0" * 64
    problems, accepted = check_recorded("production", A, {"model_hash": A, "image": old_image}, None,
                                        [(1, A, old_image), (2, B, IMAGE)])  # fmt: skip
    assert problems == [] and "returns production to v1" in accepted


def test_the_first_release_is_compared_with_no_model() -> None:
    problems, accepted = check_recorded("staging", B, RELEASE, _verdict(champion={"model_hash": None}), [])
    assert problems == [] and "against no model" in accepted
    problems, _ = check_recorded("staging", B, RELEASE, _verdict(), [])
    assert any(f"compared with {A[:12]}, but staging now runs no model" in p for p in problems)
