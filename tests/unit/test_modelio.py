"""Model format: byte-stable skops inside MLflow's layout, loaded only through our allow-list."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression

from pipelines.adapters import modelio
from pipelines.core.data import DEFAULT_TARGET as TARGET
from pipelines.core.data import default_dataset

# the bundled example's columns: these tests are about the model format, not the project's data
FEATURES = [c for c in default_dataset().columns if c != TARGET]


@pytest.fixture(scope="module")
def fitted() -> LogisticRegression:
    frame = default_dataset()
    return LogisticRegression(max_iter=5000).fit(frame[FEATURES], frame[TARGET])


def test_canonical_skops_is_byte_stable_and_loads_the_same_model(fitted: LogisticRegression) -> None:
    first, second = modelio.canonical_skops(sio.dumps(fitted)), modelio.canonical_skops(sio.dumps(fitted))
    assert first == second
    loaded = sio.loads(first, trusted=list(modelio.trusted_types()))
    x = default_dataset()[FEATURES].head(50)
    np.testing.assert_array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_save_twice_gives_identical_directories(fitted: LogisticRegression, tmp_path: Path) -> None:
    example = default_dataset()[FEATURES].head(3)
    assert modelio.save(fitted, tmp_path / "a", example) == modelio.save(fitted, tmp_path / "b", example)


def test_a_failing_save_keeps_the_previous_model(
    fitted: LogisticRegression, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = default_dataset()[FEATURES].head(3)
    target = tmp_path / "model"
    before = modelio.save(fitted, target, example)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("mlflow.models.Model.save", crash)
    with pytest.raises(OSError, match="disk full"):
        modelio.save(LogisticRegression(C=0.01, max_iter=5000).fit(example, [0, 1, 0]), target, example)
    assert modelio.content_hash(target) == before
    modelio.load(target)


def test_a_pickle_model_is_refused(fitted: LogisticRegression, tmp_path: Path) -> None:
    example = default_dataset()[FEATURES].head(3)
    modelio.save(fitted, tmp_path / "m", example)
    meta_path = tmp_path / "m" / "MLmodel"
    meta = yaml.safe_load(meta_path.read_text())
    meta["flavors"]["sklearn"]["serialization_format"] = "cloudpickle"
    meta_path.write_text(yaml.safe_dump(meta))
    with pytest.raises(modelio.UntrustedModelError, match="only skops"):
        modelio.load(tmp_path / "m")


def test_a_type_outside_the_allow_list_is_refused_even_if_mlmodel_trusts_it(tmp_path: Path) -> None:
    """A model file smuggling an unlisted type fails to load, whatever its MLmodel file claims."""
    import os

    from sklearn.preprocessing import FunctionTransformer

    sneaky = FunctionTransformer(func=os.system)  # would run a shell command on transform
    example = default_dataset()[FEATURES].head(3)
    fitted = LogisticRegression(max_iter=5000).fit(default_dataset()[FEATURES], default_dataset()[TARGET])
    modelio.save(fitted, tmp_path / "m", example)
    (tmp_path / "m" / modelio.MODEL_FILE).write_bytes(sio.dumps({"transform": sneaky, "model": fitted}))
    untrusted = sio.get_untrusted_types(file=tmp_path / "m" / modelio.MODEL_FILE)
    assert set(untrusted) - set(modelio.trusted_types()), "the test needs a type outside the allow-list"
    meta_path = tmp_path / "m" / "MLmodel"  # the attacker also controls MLmodel and declares it trusted
    meta = yaml.safe_load(meta_path.read_text())
    meta["flavors"]["sklearn"]["skops_trusted_types"] = untrusted
    meta_path.write_text(yaml.safe_dump(meta))
    with pytest.raises(modelio.UntrustedModelError, match="outside the allow-list"):
        modelio.load(tmp_path / "m")


def test_a_corrupt_model_file_is_refused_with_a_clear_error(fitted: LogisticRegression, tmp_path: Path) -> None:
    modelio.save(fitted, tmp_path / "m", default_dataset()[FEATURES].head(3))
    (tmp_path / "m" / modelio.MODEL_FILE).write_bytes(b"not a zip")
    with pytest.raises(modelio.UntrustedModelError, match="not a readable skops file"):
        modelio.load(tmp_path / "m")
