"""The service's scoring core beyond the binary example: a regressor and a multiclass model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline

from deploy.payload import InputSpec
from deploy.scoring import build_bundle
from pipelines.jobs.serve import model_store
from pipelines.yours.features import build_preprocessor


class _Inputs(pa.DataFrameModel):
    size: Series[float] = pa.Field(ge=0, le=100, nullable=True)
    colour: Series[str] = pa.Field(nullable=True)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"size": rng.uniform(0, 50, 60), "colour": rng.choice(["red", "blue", "green"], 60)})


def _fit(estimator: object, y: np.ndarray) -> Pipeline:
    model = Pipeline([("preprocess", build_preprocessor(["size"], ["colour"])), ("estimator", estimator)])
    return model.fit(_frame(), y)


def test_a_regressor_bundle_returns_values_and_no_classes() -> None:
    frame = _frame()
    model = _fit(Ridge(), frame["size"].to_numpy() * 2 + (frame["colour"] == "red") * 5)
    input_spec = InputSpec.from_schema(_Inputs.to_schema())
    rows = [[12.5, "red"], [None, "blue"], [3.0, None]]
    bundle = build_bundle(model, input_spec, {"model_version": "t"}, rows, model_store().fast_paths)
    assert bundle.classes is None
    expected = model.predict(pd.DataFrame(rows, columns=["size", "colour"]))
    np.testing.assert_allclose(bundle.output(input_spec.to_matrix(rows)), expected, atol=1e-9)


def test_a_multiclass_bundle_returns_one_probability_per_class() -> None:
    frame = _frame()
    model = _fit(
        LogisticRegression(max_iter=1000), np.where(frame["size"] < 15, "s", np.where(frame["size"] < 35, "m", "l"))
    )
    input_spec = InputSpec.from_schema(_Inputs.to_schema())
    rows = [[5.0, "red"], [45.0, "green"]]
    bundle = build_bundle(model, input_spec, {"model_version": "t"}, rows, model_store().fast_paths)
    proba = bundle.output(input_spec.to_matrix(rows))
    assert list(bundle.classes) == ["l", "m", "s"] and proba.shape == (2, 3)
    assert list(bundle.classes[proba.argmax(axis=1)]) == ["s", "l"]


@pytest.mark.parametrize("given", ["true", "yes", "1", "TRUE"])
def test_a_boolean_column_refuses_other_spellings_naming_the_allowed_values(given: str) -> None:
    """A True/False feature (validation writes it as "False"/"True"): "yes" gets a 422 that says what is allowed."""

    from deploy.payload import InputSpec, RequestError

    input_spec = InputSpec(("member",), (False,), (False,), np.array([-np.inf]), np.array([np.inf]),
                     (frozenset({"False", "True"}),))  # fmt: skip
    with pytest.raises(RequestError) as refused:
        input_spec.to_matrix([[given]])
    assert refused.value.status == 422
    assert str(refused.value.message) == 'row 0: column member must be one of "False", "True"'
    assert input_spec.to_matrix([[True]])[0, 0] == "True"  # a JSON boolean is its text, as validation coerces it


def test_a_long_list_of_allowed_values_is_cut_with_its_count() -> None:
    from pipelines.core.names import MAX_NAMED_VALUES, one_of

    text = one_of(frozenset(f"v{i:02d}" for i in range(30)))
    assert text.startswith('"v00", "v01"') and text.endswith(", ... (30 in all)")
    assert text.count('"v') == MAX_NAMED_VALUES
