"""`python -m pipelines explain`: a prediction logged by the real service (in-process, its own log writer) is read
back by id and explained; the contributions add up to the model's value and lead to the logged output, for every
estimator kind; tree contributions are the Shapley values by enumeration; a tampered log entry, an unknown id, a
malformed row and a model that is not the logged one each fail in one line."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deploy.payload import InputSpec
from deploy.scoring import build_bundle, load_bundle
from pipelines.cli import main
from pipelines.core.contract import Contract
from pipelines.core.explain import ExplainError, explain, input_frame
from pipelines.core.params import TrainParams
from pipelines.core.train import fit
from pipelines.jobs.explain import find_logged, parse_row
from pipelines.jobs.serve import model_store
from pipelines.template.infer import contract_for, infer_columns
from pipelines.yours.features import build_preprocessor
from tests import tables
from tests.helpers.project import CONTRACT, ESTIMATORS, FEATURES, PARAMS
from tests.helpers.service import FAST_PATHS, json_rows, logged_predictions

# the service's fast path feeds arrays to transformers fitted on frames (deploy/app.py silences this in its process)
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")

SMALL_FOREST = {"n_estimators": 25, "max_depth": None, "min_samples_leaf": 2, "class_weight": None}
SMALL_BOOSTING = {"learning_rate": 0.1, "max_iter": 40, "max_leaf_nodes": 15, "l2_regularization": 0.0,
                  "class_weight": None}  # fmt: skip
CASES = {  # estimator on a table of tests/tables.py, with small ensembles (seconds, not minutes)
    "logistic_regression, binary": ("binary", "logistic_regression", {"C": 1.0, "max_iter": 2000}),
    "logistic_regression, multiclass": ("multiclass", "logistic_regression", {"C": 1.0, "max_iter": 2000}),
    "ridge, regression": ("regression", "ridge", {"alpha": 1.0}),
    "random_forest, multiclass": ("multiclass", "random_forest", SMALL_FOREST),
    "hist_gradient_boosting, binary": ("binary", "hist_gradient_boosting", SMALL_BOOSTING),
}


def _train_params(estimator: str, options: dict[str, Any]) -> TrainParams:
    return TrainParams.model_validate({**PARAMS.train.model_dump(), "estimator": estimator, estimator: options})


def _table(kind: str, columns: list[str] | None = None) -> tuple[Contract, pd.DataFrame, pd.DataFrame]:
    """The table's contract as `init` infers it, and its validated rows split 80/20 in order."""
    frame = tables.TABLES[kind]()
    target = tables.TARGETS[kind]
    if columns:
        frame = frame[[*columns, target]]
    task = "regression" if kind == "regression" else kind
    contract = contract_for(infer_columns(frame, target, task), task)
    data = contract.raw.validate(frame[list(contract.raw.columns)])
    cut = int(len(data) * 0.8)
    return contract, data.iloc[:cut], data.iloc[cut:]


def _log_one(model: Any, contract: Contract, probe: pd.DataFrame, rows: pd.DataFrame, logs: Path, digest: str) -> str:
    """Score `rows` through the real service in-process (its fast path when one applies, its own log writer);
    the prediction id of the row with the most missing values."""
    spec = InputSpec.from_schema(contract.inputs)
    release = {"model_version": f"sha-{digest[:12]}", "model_hash": digest, "git_commit": "c" * 40, "data_hash": "d"}
    bundle = build_bundle(model, spec, release, json_rows(probe[contract.features].head(5)), FAST_PATHS)
    ids = logged_predictions(bundle, spec, json_rows(rows[contract.features]), logs, contract)
    return ids[int(np.argmax(rows[contract.features].isna().sum(axis=1).to_numpy()))]


@pytest.fixture(scope="module", params=sorted(CASES))
def explained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A model of one estimator kind fit on one table, a prediction of it logged by the service and explained
    by id from the log."""
    kind, estimator, options = CASES[request.param]
    contract, train, test = _table(kind)
    model, _ = fit(train, contract, _train_params(estimator, options), ESTIMATORS, build_preprocessor)
    logs = tmp_path_factory.mktemp("logs")
    prediction_id = _log_one(model, contract, train, test.head(4), logs, "ab" * 32)
    logged = find_logged(prediction_id, str(logs))
    explanation = explain(model, input_frame(logged.row, contract), train[contract.features].head(60), logged.output)
    return request.param, model, contract, logged, explanation


def test_each_estimator_explains_a_logged_prediction_and_its_contributions_add_up_to_the_logged_output(
    explained: Any,
) -> None:
    """By id, from the service's own log: the output equals the logged one; the contributions plus the base equal
    the model's value; that value, through the model's link (logistic, softmax, none), is the output."""
    case, _, contract, logged, e = explained
    c = e.contributions
    assert e.matches is True and e.difference is not None and e.difference <= 1e-9, case
    np.testing.assert_allclose(e.output, logged.output, rtol=1e-9, atol=1e-15)
    assert logged.model_hash == "ab" * 32 and logged.role == "champion"
    np.testing.assert_allclose(c.base + c.by_input.sum(axis=0), c.value, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(c.total, c.value, rtol=1e-9, atol=1e-9)
    output = np.asarray(e.output)
    if c.scale.startswith("log-odds"):
        assert math.isclose(1 / (1 + math.exp(-c.value[0])), output[1], rel_tol=1e-9)
    elif "softmax" in c.scale:
        np.testing.assert_allclose(np.exp(c.value) / np.exp(c.value).sum(), output, rtol=1e-9)
    else:  # a forest's probabilities, or a value in the target's units
        np.testing.assert_allclose(c.value, output if len(output) == len(c.value) else output[1:], rtol=1e-9)
    if c.by_feature is not None:  # linear: per transformed column, coefficient x value, summed back per input
        np.testing.assert_allclose(c.by_feature, c.coefficients * np.asarray(e.features)[:, None], rtol=0, atol=0)
    assert sorted(e.inputs) == sorted(contract.features)


def test_each_step_shows_the_values_it_produced_with_one_hot_columns_named(explained: Any) -> None:
    """Imputed cells are flagged where the raw value was missing; one-hot columns carry get_feature_names_out's
    names; the last steps' columns are the features the estimator saw."""
    case, model, _, logged, e = explained
    preprocess = model.steps[0][1]
    assert e.feature_names == [str(n) for n in preprocess.get_feature_names_out()]
    imputed = [s for s in e.steps if s.kind == "SimpleImputer"]
    missing = {k for k, v in logged.row.items() if v is None}
    assert {n for s in imputed for n, m in zip(s.names, s.missing, strict=True) if m} == missing, case
    assert all(v is not None for s in imputed for v in s.values)  # every missing value was filled
    for step in (s for s in e.steps if s.kind == "OneHotEncoder"):
        assert set(step.values) <= {0.0, 1.0} and all(n.startswith(tuple(step.inputs)) for n in step.names)


def test_with_challenger_the_shadow_models_logged_output_is_explained_and_not_mistaken_for_the_champions(
    tmp_path: Path,
) -> None:
    """Both models' outputs sit under the same id: `--challenger` reads the shadow model's, which its own model
    reproduces and the champion does not."""
    contract, train, test = _table("binary")
    spec = InputSpec.from_schema(contract.inputs)
    models, bundles = [], []
    for c, digest in ((1.0, "c1" * 32), (0.01, "c2" * 32)):
        model, _ = fit(train, contract, _train_params("logistic_regression", {"C": c, "max_iter": 2000}), ESTIMATORS,
                       build_preprocessor)  # fmt: skip
        labels = {"model_version": digest[:4], "model_hash": digest, "git_commit": "c" * 40, "data_hash": "d"}
        models.append(model)
        bundles.append(build_bundle(model, spec, labels, json_rows(train[contract.features].head(5)), FAST_PATHS))
    rows = json_rows(test[contract.features].head(2))
    prediction_id = logged_predictions(bundles[0], spec, rows, tmp_path, contract, challenger=bundles[1])[0]
    champion, shadow = find_logged(prediction_id, str(tmp_path)), find_logged(prediction_id, str(tmp_path), True)
    assert (champion.model_hash, shadow.model_hash) == ("c1" * 32, "c2" * 32) and shadow.row == champion.row
    frame = input_frame(shadow.row, contract)
    assert explain(models[1], frame, logged=shadow.output).matches is True
    assert explain(models[0], frame, logged=shadow.output).matches is False


def _shapley_by_enumeration(model: Any, row: pd.DataFrame, background: pd.DataFrame, task: str) -> np.ndarray:
    """Shapley values of v(S) = mean over background rows of f(row's S columns, background's others), over every
    coalition of raw columns (2^d pipeline evaluations per background row), by the definition."""
    columns = list(row.columns)
    d = len(columns)
    estimator = model.steps[-1][1]
    coalitions = list(itertools.product([False, True], repeat=d))
    mixed = pd.concat([background.assign(**{c: row[c].iloc[0] for c, on in zip(columns, s, strict=True) if on})
                       for s in coalitions], ignore_index=True)  # fmt: skip
    if task == "regression":
        f = model.predict(mixed)[:, None]
    elif hasattr(estimator, "_predictors"):  # boosting: the raw score
        f = estimator.decision_function(model.steps[0][1].transform(mixed)).reshape(len(mixed), -1)
    else:
        f = model.predict_proba(mixed)
    values = f.reshape(len(coalitions), len(background), -1).mean(axis=1)
    value = dict(zip(coalitions, values, strict=True))
    phi = np.zeros((d, values.shape[1]))
    for j in range(d):
        for s in coalitions:
            if not s[j]:
                k = sum(s)
                with_j = tuple(True if i == j else on for i, on in enumerate(s))
                phi[j] += math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) * (value[with_j] - value[s])
    return phi


@pytest.mark.parametrize(
    ("kind", "estimator", "options", "columns"),
    [
        ("regression", "random_forest", SMALL_FOREST, ["bmi", "bp", "s1", "s5", "s6"]),
        ("multiclass", "hist_gradient_boosting", SMALL_BOOSTING, ["Alcohol (%)", "region", "cask", "hue", "proline"]),
    ],
)
def test_tree_contributions_are_the_shapley_values_over_raw_columns_by_enumeration(
    kind: str, estimator: str, options: dict[str, Any], columns: list[str]
) -> None:
    """Exact, not approximate: equal to the definition evaluated over every coalition of raw input columns (a
    categorical input's one-hot columns move together; a missing value is imputed inside the pipeline)."""
    contract, train, test = _table(kind, columns)
    model, _ = fit(train, contract, _train_params(estimator, options), ESTIMATORS, build_preprocessor)
    row, background = test[contract.features].iloc[[0]], train[contract.features].head(8).reset_index(drop=True)
    row = (
        row.assign(**{contract.features[0]: np.nan}) if contract.inputs.columns[contract.features[0]].nullable else row
    )
    found = explain(model, row, background).contributions
    expected = _shapley_by_enumeration(model, row, background, contract.task)
    expected = expected[:, 1:] if expected.shape[1] == 2 else expected  # binary: the second class
    np.testing.assert_allclose(found.by_input, expected, rtol=0, atol=1e-10)


def test_a_row_with_missing_or_extra_columns_or_a_broken_value_is_refused_by_name() -> None:
    row = dict.fromkeys(CONTRACT.features, 1.0)
    with pytest.raises(ExplainError, match="missing"):
        input_frame({k: v for k, v in row.items() if k != CONTRACT.features[0]}, CONTRACT)
    with pytest.raises(ExplainError, match="not an input bogus"):
        input_frame({**row, "bogus": 1}, CONTRACT)
    if any(CONTRACT.numeric):
        with pytest.raises(ExplainError, match="breaks the input contract"):
            input_frame({**row, CONTRACT.numeric[0]: "many"}, CONTRACT)
    with pytest.raises(ExplainError, match="not valid JSON"):
        parse_row('{"a": 1,')
    with pytest.raises(ExplainError, match="JSON object"):
        parse_row("[1, 2]")


@pytest.fixture(scope="module")
def served(project_model: Any, project_split: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The project's model saved as `train` saves it, loaded as the service loads it (its hash verified), one
    prediction logged; (model directory, log directory, prediction id)."""
    from pipelines.adapters import modelio

    root = tmp_path_factory.mktemp("project-model")
    inputs = project_split[0][FEATURES]
    modelio.save(project_model, root / "model", inputs.head(5), signature_sample=inputs)
    spec = InputSpec.from_schema(CONTRACT.inputs)
    digest = modelio.content_hash(root / "model")
    labels = {"model_version": f"sha-{digest[:12]}", "model_hash": digest, "git_commit": "c" * 40, "data_hash": "d"}
    bundle = load_bundle(root / "model", modelio.manifest(root / "model"), labels, spec, model_store())
    ids = logged_predictions(bundle, spec, json_rows(project_split[1][FEATURES].head(2)), root / "logs", CONTRACT)
    return root / "model", root / "logs", ids[1]


def _explain(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["explain", *args])
    return code, out.getvalue(), err.getvalue()


def test_the_command_explains_a_logged_prediction_of_the_project_model_and_says_it_matches(served: Any) -> None:
    model_dir, logs, prediction_id = served
    code, out, err = _explain("--id", prediction_id, "--logs", str(logs), "--model", str(model_dir))
    assert code == 0, err
    assert "matches the logged output" in out and f"prediction {prediction_id}" in out
    for section in ("1. raw inputs", "2. preprocessing", "3. contributions", "4. output"):
        assert section in out
    code, out, err = _explain("--id", prediction_id, "--logs", str(logs), "--model", str(model_dir), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["matches_logged"] is True and doc["prediction_id"] == prediction_id
    c = doc["contributions"]
    for name in c["outputs"]:
        added = c["base"]["values"][name] + sum(i["contributions"][name] for i in c["by_input"])
        assert math.isclose(added, c["model_value"][name], rel_tol=1e-9, abs_tol=1e-9)


def test_a_tampered_logged_output_makes_the_command_fail_saying_it_does_not_match(served: Any, tmp_path: Path) -> None:
    model_dir, logs, prediction_id = served
    tampered = tmp_path / "logs"
    tampered.mkdir()
    for path in logs.glob("predictions-*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for record in records:
            outputs = record["probabilities"] or record["predictions"]
            outputs[-1] = ([p * (1 + 1e-6) for p in outputs[-1]] if isinstance(outputs[-1], list)
                           else outputs[-1] * (1 + 1e-6))  # fmt: skip
        (tampered / path.name).write_text("".join(json.dumps(r) + "\n" for r in records))
    code, out, err = _explain("--id", prediction_id, "--logs", str(tampered), "--model", str(model_dir))
    assert code == 1 and "DOES NOT match the logged output" in out
    assert err.startswith("error: ") and "does not match the logged output" in err and "Traceback" not in err


def test_bad_input_fails_in_one_line_naming_what_is_wrong(served: Any, tmp_path: Path) -> None:
    """An unknown id, a malformed id, malformed --row JSON, a row without an input, and a model that is not the one
    the log names: exit 1, one line, no traceback."""
    from pipelines.core.ids import compose

    model_dir, logs, prediction_id = served
    unknown = compose(prediction_id[:12], int(time.time() * 1000), b"\x00" * 5)
    other_model = tmp_path / "other"
    other_model.mkdir()
    for path in model_dir.iterdir():
        (other_model / path.name).write_bytes(path.read_bytes())
    (other_model / "extra.txt").write_text("not the logged model's files")
    cases = {
        "has no champion entry": ("--id", unknown, "--logs", str(logs)),
        "is not a prediction id": ("--id", "0123", "--logs", str(logs)),
        "not valid JSON": ("--row", '{"a": 1', "--model", str(model_dir)),
        "missing": ("--row", json.dumps({FEATURES[0]: 1.0}), "--model", str(model_dir)),
        "which the log names": ("--id", prediction_id, "--logs", str(logs), "--model", str(other_model)),
        "no prediction log": ("--id", prediction_id, "--logs", str(tmp_path / "nowhere")),
    }
    for expected, args in cases.items():
        code, _, err = _explain(*args)
        assert code == 1, expected
        assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
