"""Preprocessing: whatever valid (or gappy) data comes in, the model sees finite, scaled numbers."""

from __future__ import annotations

import warnings

import hypothesis.strategies as st
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings

from pipelines.yours.features import build_preprocessor
from pipelines.yours.schema import Features
from tests.helpers.project import CONTRACT

NUMERIC_FEATURES = CONTRACT.numeric

warnings.filterwarnings("ignore", module="pandera")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(Features.strategy(size=12))
def test_numeric_columns_come_out_finite_centred_and_one_per_feature(frame: pd.DataFrame) -> None:
    out = build_preprocessor(NUMERIC_FEATURES, []).fit_transform(frame)
    assert out.shape == (12, len(NUMERIC_FEATURES))
    assert np.isfinite(out).all()
    assert np.allclose(out.mean(axis=0), 0.0, atol=1e-6)


@SETTINGS
@given(
    frame=Features.strategy(size=10),
    holes=st.lists(st.tuples(st.integers(0, 9), st.sampled_from(NUMERIC_FEATURES)), max_size=15),
)
def test_missing_values_are_imputed_never_passed_on(frame: pd.DataFrame, holes: list[tuple[int, str]]) -> None:
    for row, column in holes:
        frame.loc[row, column] = np.nan
    frame.loc[0, NUMERIC_FEATURES] = 1.0  # one known value, so no column is entirely empty
    out = build_preprocessor(NUMERIC_FEATURES, []).fit_transform(frame)
    assert out.shape == (10, len(NUMERIC_FEATURES))
    assert np.isfinite(out).all()


def test_categories_are_one_hot_encoded_and_unseen_ones_ignored() -> None:
    train = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", None, "red"]})
    pre = build_preprocessor(["size"], ["colour"]).fit(train)
    assert list(pre.get_feature_names_out()) == ["size", "colour_blue", "colour_red"]
    out = pre.transform(pd.DataFrame({"size": [2.5], "colour": ["green"]}))
    assert out.tolist() == [[0.0, 0.0, 0.0]]
