"""The pull-request loop, driven through the same commands the workflow runs, on real branches.

Each test branches off `main` of a trained copy (bare `origin`, real dvc), changes something,
runs `dvc repro`, commits, then runs `report` and `gate` against main as the workflow does. The
data, estimator, metrics and floors are the project's own; only the exact-number test is `example`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.core.tasks import task_spec
from tests.helpers.project import CONTRACT, PARAMS, Repo, cripple, forbidden_cell, read_project_data

pytestmark = pytest.mark.slow


def _branch(repo: Repo, name: str) -> None:
    repo.git("checkout", "-q", "-b", name)


def _commit(repo: Repo, message: str) -> None:
    repo.dvc("repro")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", message)


def _report(repo: Repo, base: str = "main") -> str:
    repo.pipelines("report", "--base", base, "--out", "reports/report.md", "--pr-number", "3", "--head-sha", "a" * 40)
    return (repo.path / "reports" / "report.md").read_text()


def test_a_branch_that_changes_a_param_shows_it_and_the_metrics_and_passes(repo_copy: Repo) -> None:
    _branch(repo_copy, "plots")
    repo_copy.set_param("evaluate.curve_points", 150)
    _commit(repo_copy, "fewer curve points")

    report = _report(repo_copy)
    gate = repo_copy.pipelines("gate", "--base", "main", check=False)

    assert gate.returncode == 0, gate.stderr
    assert "## ✅ Model gate passed" in report
    assert "| `evaluate.curve_points` | `200` | `150` |" in report
    for metric in PARAMS.gate.floors:
        assert f"| `{metric}` |" in report
    assert json.loads((repo_copy.path / "reports" / "pr.json").read_text()) == {"number": 3, "head_sha": "a" * 40}


@pytest.mark.example
def test_a_branch_that_improves_the_example_model_shows_positive_deltas_and_passes(repo_copy: Repo) -> None:
    _branch(repo_copy, "improve")
    repo_copy.set_param("train.logistic_regression.C", 0.3)
    _commit(repo_copy, "tune C")

    report = _report(repo_copy)
    gate = repo_copy.pipelines("gate", "--base", "main", check=False)

    assert gate.returncode == 0, gate.stderr
    assert "## ✅ Model gate passed" in report
    f1, recall = _row(report, "f1"), _row(report, "recall")
    assert f1.startswith("| `f1` | 0.9512 [") and "| 0.9756 [" in f1 and "| 🟢 +0.0244 |" in f1
    assert recall.startswith("| `recall` | 0.9286 [") and "| 0.9524 [" in recall and "| 🟢 +0.0238 |" in recall
    assert "| `train.logistic_regression.C` | 1.0000 | 0.3000 |" in report
    assert json.loads((repo_copy.path / "reports" / "pr.json").read_text()) == {"number": 3, "head_sha": "a" * 40}


def test_a_branch_that_degrades_the_model_fails_the_gate_naming_the_rule(repo_copy: Repo, tmp_path: Path) -> None:
    _branch(repo_copy, "cripple")
    cripple(repo_copy)
    _commit(repo_copy, "over-regularise")

    summary = tmp_path / "summary.md"
    gate = repo_copy.pipelines("gate", "--base", "main", "--summary", str(summary), check=False)
    report = _report(repo_copy)
    metrics = json.loads((repo_copy.path / "metrics.json").read_text())

    assert gate.returncode == 1
    failed = [m for m in PARAMS.gate.floors if f"FAIL: {m} = {metrics[m]:.4f} is " in gate.stderr]
    assert failed, gate.stderr
    for metric in failed:  # the message names the metric, its value and the floor params.yaml sets
        assert f"the floor {PARAMS.gate.floors[metric]:.4f}" in gate.stderr or (
            f"the ceiling {PARAMS.gate.floors[metric]:.4f}" in gate.stderr
        )
    assert "### ❌ Model gate failed" in summary.read_text()
    assert "## ❌ Model gate failed" in report and "🔴" in report
    # the simpler model (evaluate.baseline) on the same rows: the rule fails exactly when it is better beyond
    # the paired interval, and the report shows the comparison (a model that learnt nothing, against one with skill)
    simpler = json.loads((repo_copy.path / "reports" / "baseline.json").read_text())
    assert simpler["estimator"] == PARAMS.evaluate.baseline and "skipped" not in simpler, simpler
    primary = task_spec(CONTRACT.task).primary
    beyond = simpler["difference"][primary]["high"] < 0
    assert ("FAIL: a simpler model does better" in gate.stderr) == beyond, (simpler, gate.stderr)
    assert "### Simpler model" in report and f"| `{PARAMS.evaluate.baseline}` |" in report


@pytest.mark.example
def test_the_degraded_example_model_fails_with_the_exact_numbers(repo_copy: Repo) -> None:
    _branch(repo_copy, "cripple")
    repo_copy.set_param("train.logistic_regression.C", 0.001)
    _commit(repo_copy, "over-regularise")
    gate = repo_copy.pipelines("gate", "--base", "main", check=False)
    floor, allowed = PARAMS.gate.floors["recall"], PARAMS.gate.max_regression["recall"]
    assert f"FAIL: recall = 0.6667 is below the floor {floor:.4f}" in gate.stderr
    assert (
        f"FAIL: recall regressed by 0.2619 against the base (0.9286 -> 0.6667); at most {allowed:.4f} is allowed"
        in gate.stderr
    )


def test_a_branch_that_adds_rows_gets_a_data_section(repo_copy: Repo) -> None:
    _branch(repo_copy, "more-data")
    rng = np.random.default_rng(7)
    frame = read_project_data(repo_copy.path)
    extra = frame.sample(60, random_state=7).reset_index(drop=True)
    numeric = CONTRACT.numeric
    extra[numeric] = extra[numeric] * rng.uniform(0.99, 1.01, size=(60, len(numeric)))
    extra.to_csv(repo_copy.path / "data" / "batch-2.csv", index=False)
    repo_copy.dvc("add", "data")
    _commit(repo_copy, "new batch")

    report = _report(repo_copy)

    section = report.split("### Data")[1].split("### Plots")[0]
    assert "added: `data/batch-2.csv`" in section
    assert f"rows: {len(frame)} -> {len(frame) + 60} (+60)" in section
    assert "schema: ✅ valid" in section
    assert "Largest distribution shifts" in section


def test_without_metrics_on_main_the_gate_uses_floors_only_and_the_report_says_so(repo_copy: Repo) -> None:
    repo_copy.git("rm", "-q", "metrics.json")
    repo_copy.git("commit", "-q", "-m", "a main branch before its first model")
    repo_copy.git("push", "-q", "origin", "main")
    _branch(repo_copy, "first-model")
    _commit(repo_copy, "first model")

    gate = repo_copy.pipelines("gate", "--base", "origin/main", check=False)
    report = _report(repo_copy, base="origin/main")

    assert gate.returncode == 0, gate.stderr
    assert "no metrics committed on the base revision: checking the absolute floors only" in gate.stderr
    assert "regression" not in gate.stdout
    assert "**No base metrics:**" in report


def test_a_docs_only_change_needs_no_training_and_a_params_change_does(repo_copy: Repo, tmp_path: Path) -> None:
    _branch(repo_copy, "docs")
    (repo_copy.path / "README.md").write_text("# changed docs\n")
    (repo_copy.path / "docs" / "NOTES.md").write_text("notes\n")
    repo_copy.git("add", "-A")
    repo_copy.git("commit", "-q", "-m", "docs only")
    output = tmp_path / "github_output"

    docs = repo_copy.pipelines("changed", "--base", "main", "--github-output", str(output))

    assert docs.stdout == ""
    assert "no training needed" in docs.stderr
    assert output.read_text() == "pipeline=false\n"

    repo_copy.set_param("evaluate.threshold", 0.4)
    repo_copy.git("commit", "-q", "-am", "threshold")
    params = repo_copy.pipelines("changed", "--base", "main", "--github-output", str(output))
    assert params.stdout.split() == ["params.yaml"]
    assert output.read_text().splitlines()[-1] == "pipeline=true"


def test_report_and_gate_name_a_missing_base_revision_clearly(trained_repo: Repo) -> None:
    result = trained_repo.pipelines("gate", "--base", "no-such-branch", check=False)
    assert result.returncode == 1
    assert "base revision 'no-such-branch' not found" in result.stderr and "Traceback" not in result.stderr


def test_a_param_change_without_the_lock_fails_the_gate_as_stale_until_reproduced_and_committed(
    repo_copy: Repo,
) -> None:
    """The ml-gate steps on a branch whose params.yaml changed but whose dvc.lock was not re-committed: the gate
    fails with the stale-lock reason and the command to run; after `dvc repro` and a commit it passes."""
    quick = ("reproduce", "--advisory", "--verdict", "reports/reproduction.json")  # a failing verdict stands as is
    steps = ("reproduce", "--force", "--advisory", "--verdict", "reports/reproduction.json")
    gate = ("gate", "--base", "main", "--reproduction", "reports/reproduction.json")
    repo_copy.git("checkout", "-q", "-b", "stale")
    repo_copy.set_param("evaluate.curve_points", 150)
    repo_copy.git("commit", "-q", "-am", "fewer curve points, lock not re-committed")

    def report() -> str:
        repo_copy.pipelines("report", "--base", "main", "--reproduction", "reports/reproduction.json")
        return (repo_copy.path / "reports" / "report.md").read_text()

    repo_copy.pipelines(*quick)
    failed = repo_copy.pipelines(*gate, check=False)
    text = report()

    assert failed.returncode == 1
    reason = "the committed dvc.lock is stale: stage evaluate (params changed: evaluate.curve_points (200 -> 150))"
    assert f"FAIL: {reason}" in failed.stderr
    assert "run `dvc repro`, then `git add dvc.lock" in failed.stderr
    assert "## ❌ Model gate failed" in text and reason in text and "### Reproduction" in text

    repo_copy.git("add", "-A")  # the outputs `reproduce` just produced: what `dvc repro` would have made
    repo_copy.git("commit", "-q", "-m", "re-run the pipeline")
    repo_copy.pipelines(*steps)
    passed = repo_copy.pipelines(*gate, check=False)
    assert passed.returncode == 0, passed.stderr
    assert "## ✅ Model gate passed" in report()


def test_gate_and_report_refuse_outputs_the_workspace_would_not_produce(repo_copy: Repo) -> None:
    repo_copy.set_param("evaluate.curve_points", 150)
    for command in ("gate", "report"):
        result = repo_copy.pipelines(command, "--base", "main", check=False)
        assert result.returncode == 1
        assert "outputs are stale" in result.stderr and "evaluate (changed deps: params.yaml)" in result.stderr
        assert "run `dvc repro` first" in result.stderr


def test_a_committed_output_forged_with_its_lock_entry_is_caught_because_every_stage_is_re_run(repo_copy: Repo) -> None:
    """metrics.json edited and its md5 written into dvc.lock: DVC alone would skip the stage and keep the forgery
    (outputs restored from a cache or remote look the same); `reproduce --force` re-derives it and the gate fails;
    a verdict made without --force, or at another commit, is refused."""
    import hashlib

    import yaml

    repo_copy.git("checkout", "-q", "-b", "forged")
    metrics_path = repo_copy.path / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    name = next(iter(metrics))
    metrics[name] = round(metrics[name] * 0.5, 6)
    metrics_path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    lock = yaml.safe_load((repo_copy.path / "dvc.lock").read_text())
    for out in lock["stages"]["evaluate"]["outs"]:
        if out["path"] == "metrics.json":
            out["md5"], out["size"] = hashlib.md5(metrics_path.read_bytes()).hexdigest(), metrics_path.stat().st_size
    (repo_copy.path / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    repo_copy.git("commit", "-q", "-am", "better numbers")
    verdict = "reports/reproduction.json"

    repo_copy.pipelines("reproduce", "--advisory", "--verdict", verdict)  # not forced: DVC skips every stage
    unforced = repo_copy.pipelines("gate", "--base", "main", "--reproduction", verdict, check=False)
    assert unforced.returncode == 1 and "written without --force" in unforced.stderr

    repo_copy.pipelines("reproduce", "--force", "--advisory", "--verdict", verdict)
    gate = repo_copy.pipelines("gate", "--base", "main", "--reproduction", verdict, check=False)
    assert gate.returncode == 1
    assert "stage evaluate: metrics.json does not reproduce" in gate.stderr and name in gate.stderr
    assert "run `dvc repro --force`" in gate.stderr

    repo_copy.git("commit", "-q", "--allow-empty", "-m", "another commit")
    moved = repo_copy.pipelines("gate", "--base", "main", "--reproduction", verdict, check=False)
    assert moved.returncode == 1 and "not HEAD" in moved.stderr


def test_after_a_failed_repro_gate_and_report_refuse_to_judge_the_outputs_left_over(repo_copy: Repo) -> None:
    """A stage that fails keeps its previous outputs; the gate must not pass them off as this branch's model.
    Here new data breaks the contract, so `dvc repro` stops at validate and the old model stays in place."""
    frame = read_project_data(repo_copy.path).head(30).astype(object)
    column, value = forbidden_cell()
    frame.loc[0, column] = value
    frame.to_csv(repo_copy.path / "data" / "batch-bad.csv", index=False)
    assert repo_copy.dvc("repro", check=False).returncode != 0
    for command in ("gate", "report"):
        result = repo_copy.pipelines(command, "--base", "main", check=False)
        assert result.returncode == 1, result.stderr
        assert "outputs are stale" in result.stderr and "Model gate passed" not in result.stdout + result.stderr


def _non_inferiority(repo: Repo) -> str:
    """Judge the task's primary metric by the paired interval (gate.regression_rule); its name. `cripple` makes a
    constant model, worse on it than any model with skill (tests.helpers.project.cripple)."""
    from pipelines.core.tasks import task_spec

    metric = task_spec(CONTRACT.task).primary
    repo.set_param("gate.regression_rule", {metric: "non_inferiority"})
    return metric


def _skill_or_skip(repo: Repo) -> None:
    """Skip, saying why, when the project's model has no skill to lose on its primary metric (a constant model
    cannot then be clearly worse): ROC AUC at most 0.55 (a constant's is 0.5), F1 macro at most 0.55 (a one-class
    model's is at most 0.5 for two classes or more), R² at most 0.05 (a constant's is about 0)."""
    from pipelines.core.tasks import task_spec

    primary = task_spec(CONTRACT.task).primary
    value = json.loads((repo.path / "metrics.json").read_text())[primary]
    chance = {"roc_auc": 0.55, "r2": 0.05, "f1_macro": 0.55}.get(primary, 0.0)
    if value <= chance:
        pytest.skip(f"the model's {primary} on this table is {value:.3f}: no skill for a crippled model to lose")


def _row(report: str, metric: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| `{metric}` |"))


def test_intervals_a_clearly_better_model_passes_non_inferiority_and_a_clearly_worse_one_fails_it(
    repo_copy: Repo,
) -> None:
    """Paired on the same holdout rows from the committed outputs (no DVC remote here): a model far better than
    the base is shown better; one far worse fails naming the metric, the interval and the bound."""
    _skill_or_skip(repo_copy)
    template_params = (repo_copy.path / "params.yaml").read_text()
    cripple(repo_copy)
    _commit(repo_copy, "a main whose model learnt nothing")
    _branch(repo_copy, "fix")
    (repo_copy.path / "params.yaml").write_text(template_params)
    primary = _non_inferiority(repo_copy)
    _commit(repo_copy, "the model back")
    gate = repo_copy.pipelines("gate", "--base", "main", check=False)
    report = _report(repo_copy)
    assert gate.returncode == 0, gate.stderr
    assert "comparison with the base: paired" in gate.stderr
    assert _row(report, primary).endswith(" better |"), _row(report, primary)
    assert "paired difference [interval]" in report and (repo_copy.path / "reports" / "forest.png").exists()

    _branch(repo_copy, "break-again")
    cripple(repo_copy)
    _non_inferiority(repo_copy)
    _commit(repo_copy, "learn nothing again")
    worse = repo_copy.pipelines("gate", "--base", "fix", check=False)
    assert worse.returncode == 1
    line = next(x for x in worse.stderr.splitlines() if "(non-inferiority)" in x)
    assert line.startswith(f"[gate] FAIL: {primary}: the paired 95% interval of this - base is [")
    tolerance = PARAMS.gate.max_regression[primary]
    assert f"bound must be at least -{tolerance:.4f}" in line or f"bound must be at most +{tolerance:.4f}" in line


def test_intervals_a_change_within_the_noise_is_reported_as_no_detectable_difference(repo_copy: Repo) -> None:
    _branch(repo_copy, "same")
    repo_copy.set_param("evaluate.curve_points", 150)  # the same model: a paired difference of exactly 0
    _commit(repo_copy, "fewer curve points")
    report = _report(repo_copy)
    from pipelines.core.tasks import task_spec

    for metric in task_spec(CONTRACT.task).metrics:
        row = _row(report, metric)
        assert "+0.0000 [+0.0000, +0.0000]" in row and row.endswith("no detectable difference |"), row
    assert "comparison with the base paired: both models' recorded outputs" in report
