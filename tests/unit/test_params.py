"""params.yaml is validated on load, and errors name the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.adapters.params import load_params
from pipelines.core.params import ParamsError, parse_params
from tests.helpers.project import ESTIMATORS

ROOT = Path(__file__).resolve().parents[2]


def _params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_params_file_is_valid() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.train.estimator in ESTIMATORS
    assert not params.train.check_estimators(ESTIMATORS)


def test_an_unknown_key_is_named() -> None:
    data = _params()
    estimator = data["train"]["estimator"]  # the project's own (init may have chosen another)
    data["train"][estimator]["penalty_typo"] = "l2"
    with pytest.raises(ParamsError, match=rf"train\.{estimator}\.penalty_typo: unknown key"):
        parse_params(data, estimators=ESTIMATORS)


def test_a_mistyped_value_is_named_with_what_was_given() -> None:
    data = _params()
    data["split"]["test_size"] = "a fifth"
    with pytest.raises(ParamsError, match=r"split\.test_size: .*'a fifth'"):
        parse_params(data)


def test_an_out_of_range_value_is_refused() -> None:
    data = _params()
    data["split"]["test_size"] = 1.5
    with pytest.raises(ParamsError, match=r"split\.test_size"):
        parse_params(data)


def test_a_missing_section_and_an_unknown_estimator_are_both_reported() -> None:
    data = _params()
    del data["evaluate"]
    data["train"]["estimator"] = "svm"
    with pytest.raises(ParamsError) as info:
        parse_params(data)
    assert "evaluate: required key is missing" in str(info.value)
    data = _params()
    data["train"]["estimator"] = "svm"
    with pytest.raises(ParamsError, match=r"train\.estimator: 'svm' is not in pipelines/yours/estimators.py"):
        parse_params(data, estimators=ESTIMATORS)


def test_a_missing_or_unparsable_file_is_a_params_error(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("- a list")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(bad)


def test_a_renamed_key_is_still_read_with_one_deprecation_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`environments.stages` became `environments.order`: a params.yaml written before (a fork that has not taken
    the template update, or an environment branch's old commit) still loads, the same, and says so once."""
    data = _params()
    current = load_params(ROOT / "params.yaml")
    data["environments"]["stages"] = data["environments"].pop("order")
    old = tmp_path / "params.yaml"
    old.write_text(yaml.safe_dump(data, sort_keys=False))
    capsys.readouterr()
    assert load_params(old) == current
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "warning: params.yaml: environments.stages is deprecated, renamed environments.order; rename it "
        "(read under the old name for now)"
    ]
    assert "stages" in data["environments"]  # parse_params leaves the caller's mapping as it was
    data["environments"]["order"] = data["environments"]["stages"][:1]
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump(data, sort_keys=False))
    assert [e.name for e in load_params(both).environments.order] == [current.environments.order[0].name]
    assert "environments.stages is ignored: environments.order is set too" in capsys.readouterr().err


def test_the_stage_sections_reports_compare_are_the_ones_dvc_yaml_says_the_stages_read(tmp_path: Path) -> None:
    """Reports compare the params the pipeline's stages read, taken from dvc.yaml (not a list kept in code): a
    `section.key` entry counts as its section, another file's entries (a mapping) do not, order is kept."""
    from pipelines.adapters.params import stage_sections

    dvc_yaml = tmp_path / "dvc.yaml"
    dvc_yaml.write_text(
        "stages:\n"
        "  a: {cmd: x, params: [data, split.seed]}\n"
        "  b: {cmd: y, params: [train, {other.yaml: [knob]}, split]}\n"
        "  c: {cmd: z}\n"
    )
    assert stage_sections(dvc_yaml) == ("data", "split", "train")
    assert set(stage_sections(ROOT / "dvc.yaml")) >= {"split", "train", "evaluate"}


def test_the_baseline_must_name_an_estimator_with_its_section() -> None:
    data = _params()
    unset = next(name for name in ESTIMATORS if name not in data["train"])  # an estimator without its section
    data["evaluate"]["baseline"] = unset
    with pytest.raises(ParamsError, match=rf"evaluate\.baseline is '{unset}' but params\.yaml has no train\.{unset}"):
        parse_params(data, estimators=ESTIMATORS)
    data["evaluate"]["baseline"] = "lasso"
    with pytest.raises(ParamsError, match=r"evaluate\.baseline: 'lasso' is not in pipelines/yours/estimators\.py"):
        parse_params(data, estimators=ESTIMATORS)
    data["evaluate"]["baseline"] = None
    assert parse_params(data, estimators=ESTIMATORS).evaluate.baseline is None
