"""End to end: the README's main command in a fresh copy, then real dvc/git/MLflow behaviour."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.adapters import modelio
from pipelines.core.tasks import task_spec
from tests.helpers.project import (
    CONTRACT,
    IS_EXAMPLE,
    ROOT,
    Repo,
    forbidden_cell,
    knob,
    make_run,
    other_blas_kernel,
    read_project_data,
)

TASK = CONTRACT.task

pytestmark = pytest.mark.slow


def _stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def test_make_run_prints_metrics_and_reproduces_the_committed_outputs_numerically(trained_repo: Repo) -> None:
    """`make run` on a fresh copy prints the metrics table and reproduces every committed output within the
    tolerances; on another CPU only files whose bytes differ while their numbers agree are left modified."""
    output = trained_repo.make_run_output  # type: ignore[attr-defined]
    table = output[output.index("Path ") :]  # `dvc metrics show`, after the stages' own log lines
    for name in task_spec(TASK).metrics:
        assert name in table.splitlines()[0]
    assert "[reproduce] reproduced:" in output, output
    head = trained_repo.template_head  # type: ignore[attr-defined]
    verdict = json.loads(trained_repo.pipelines("reproduce", "--no-run", "--rev", head, "--json").stdout)
    assert verdict["ok"], verdict["headline"]
    equivalent = {f["path"] for f in verdict["findings"] if f["status"] == "equivalent"}
    modified = {line[3:] for line in trained_repo.status_after_make_run.splitlines()}  # type: ignore[attr-defined]
    assert modified <= equivalent | {"dvc.lock"}, "a modified file that the check did not account for"
    assert not modified or "dvc.lock" in modified
    assert "up to date" in trained_repo.dvc("status").stdout


def _model_hash(repo: Repo) -> str:
    return str(json.loads((repo.path / "models" / "manifest.json").read_text())["content_hash"])


def test_a_lock_from_one_cpu_kernel_reproduces_on_another_and_a_real_change_fails_naming_stage_and_metric(
    repo_copy: Repo,
) -> None:
    """Two machines in one test: the lock was committed with this environment's OpenBLAS kernel (the fixture
    commits what `make run` built), and train is re-run with another; the check passes and says the model
    bytes differ. An uncommitted param edit then fails it, naming the stage and the metric."""
    verdict = repo_copy.path.parent / "verdict.json"
    kernel = other_blas_kernel()
    if kernel is None:
        pytest.skip("no second OpenBLAS kernel this CPU can run")
    committed = _model_hash(repo_copy)
    repo_copy.env = {**repo_copy.env, "OPENBLAS_CORETYPE": kernel}
    repo_copy.dvc("repro", "--force", "--single-item", "train")
    result = repo_copy.pipelines("reproduce", "--verdict", str(verdict))  # runs what follows: evaluate
    if _model_hash(repo_copy) == committed:
        pytest.skip(f"the {kernel} kernel gives the same model bytes as this environment's on this CPU")
    found = json.loads(verdict.read_text())
    assert found["ok"] is True
    statuses = {f["path"]: f["status"] for f in found["findings"]}
    assert statuses["models/model"] == statuses["models/manifest.json"] == "equivalent"
    assert statuses["build/test.parquet"] == statuses["reports/validation.json"] == "identical"
    assert "bytes differ but numbers agree for " in result.stderr and "models/manifest.json, models/model" in (
        result.stderr
    )

    repo_copy.set_param("split.test_size", 0.25)
    changed = repo_copy.pipelines("reproduce", "--verdict", str(verdict), check=False)
    assert changed.returncode == 1
    assert "the committed dvc.lock is stale: stage split (params changed: split.test_size (0.2 -> 0.25))" in (
        changed.stderr
    )  # and every stage after it re-ran: the metrics name what moved
    found = json.loads(verdict.read_text())
    (metrics,) = [f for f in found["findings"] if f["path"] == "metrics.json"]
    assert metrics["stage"] == "evaluate" and metrics["status"] == "differs"
    assert any(f"at {name}:" in metrics["detail"] for name in task_spec(TASK).metrics), metrics["detail"]


def test_a_typo_in_the_exact_stages_is_named_not_ignored(repo_copy: Repo) -> None:
    repo_copy.set_param("reproduce.exact_stages", ["validate", "spilt"])
    result = repo_copy.pipelines("reproduce", "--no-run", check=False)
    assert result.returncode == 1 and "reproduce.exact_stages names spilt, not a stage of dvc.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_model_is_mlflow_skops_and_predicts_its_input_example(trained_repo: Repo) -> None:
    """The packaged model loads with mlflow.pyfunc and with our allow-list loader, and they agree."""
    import mlflow.pyfunc

    model_dir = trained_repo.path / "models" / "model"
    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    assert meta["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert meta["signature"]["inputs"]
    from mlflow.models import Model

    example = Model.load(str(model_dir)).load_input_example(str(model_dir))  # typed by the signature
    pyfunc_pred = mlflow.pyfunc.load_model(str(model_dir)).predict(example)
    ours = modelio.load(model_dir)
    assert list(pyfunc_pred) == list(ours.predict(example))
    if TASK != "regression":
        proba = ours.predict_proba(example)
        assert ((proba >= 0) & (proba <= 1)).all() and list(ours.classes_[proba.argmax(axis=1)]) == list(pyfunc_pred)


def test_metrics_and_every_declared_plot_are_produced(trained_repo: Repo) -> None:
    """metrics.json has every metric; each file in dvc.yaml's plots: exists and `dvc plots show` renders it."""
    metrics = json.loads((trained_repo.path / "metrics.json").read_text())
    assert set(metrics) == set(task_spec(TASK).metrics)
    declared = yaml.safe_load((trained_repo.path / "dvc.yaml").read_text())["plots"]
    files = {f for plot in declared for props in plot.values() for f in props["y"]}
    for name in files:
        assert (trained_repo.path / name).stat().st_size > 0, name
    shown = json.loads(trained_repo.dvc("plots", "show", "--json").stdout)
    assert not shown.get("errors"), shown.get("errors")
    assert len(shown["data"]) == len(declared)
    figures = sorted(p.name for p in (trained_repo.path / "reports" / "figures").glob("*.png"))
    evaluate = yaml.safe_load((trained_repo.path / "params.yaml").read_text())["evaluate"]
    extra = (["slices.png"] if evaluate["slices"] else []) + (["inclusion.png"] if evaluate["sensitive"] else [])
    assert figures == sorted([*task_spec(TASK).figures, *extra])


def test_run_is_logged_to_mlflow_with_commit_and_data_hash(trained_repo: Repo) -> None:
    """The evaluate stage logs params, metrics, the model and provenance tags to the local sqlite store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{trained_repo.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(
        yaml.safe_load((trained_repo.path / "params.yaml").read_text())["mlflow"]["experiment"]
    )
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    data_md5 = yaml.safe_load((trained_repo.path / "data.dvc").read_text())["outs"][0]["md5"]
    # the commit make run ran on; `-dirty` on a CPU whose build rewrote dvc.lock and the manifest
    assert run.data.tags["git_commit"].removesuffix("-dirty") == trained_repo.template_head  # type: ignore[attr-defined]
    assert run.data.tags["data_hash"] == data_md5
    assert run.data.tags["model_hash"] == modelio.content_hash(trained_repo.path / "models" / "model")
    assert run.data.metrics == json.loads((trained_repo.path / "metrics.json").read_text())
    assert (
        run.data.params["train.estimator"]
        == yaml.safe_load((trained_repo.path / "params.yaml").read_text())["train"]["estimator"]
    )
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/MLmodel" in logged and "model/model.skops" in logged


def test_corrupt_data_stops_the_pipeline_lists_every_failure_and_keeps_the_model(repo_copy: Repo) -> None:
    """A data file that breaks the schema fails `dvc repro` with each failing check listed; model and metrics stay."""
    model_dir = repo_copy.path / "models" / "model"
    model_hash = modelio.content_hash(model_dir)
    metrics_before = (repo_copy.path / "metrics.json").read_text()
    frame = read_project_data(repo_copy.path).astype(object)
    column, value = forbidden_cell()
    target = CONTRACT.target
    frame.loc[3, column] = value
    frame.loc[30, target] = "\u2603 not a label"
    expected = {(column, 3), (target, 30)}
    required = [c for c in CONTRACT.features if c != column and not CONTRACT.inputs.columns[c].nullable]
    if required:
        frame.loc[20, required[0]] = None
        expected.add((required[0], 20))
    data = repo_copy.path / "data"
    for old in data.iterdir():
        if old.suffix in (".csv", ".parquet"):
            old.unlink()
    frame.to_csv(data / "corrupt.csv", index=False)

    result = repo_copy.dvc("repro", check=False)

    assert result.returncode != 0
    for name, _ in expected:
        assert name in result.stderr + result.stdout
    report = json.loads((repo_copy.path / "reports" / "validation.json").read_text())
    assert report["valid"] is False
    found = {(c["column"], c["row"]) for c in report["failure_cases"]}
    assert expected <= found
    assert modelio.content_hash(model_dir) == model_hash
    assert (repo_copy.path / "metrics.json").read_text() == metrics_before
    modelio.load(model_dir)  # the previous model is still loadable


def test_a_training_param_change_reruns_only_train_and_evaluate(repo_copy: Repo) -> None:
    """Changing one training hyper-parameter re-runs train and evaluate, not validate or split."""
    repo_copy.set_param(*knob())
    result = repo_copy.dvc("repro")
    assert _stages_run(result.stdout) == ["train", "evaluate"]
    changed = {line[3:] for line in repo_copy.git("status", "--porcelain").stdout.splitlines()}
    committed_outputs = {"params.yaml", "dvc.lock", "metrics.json", "models/manifest.json",
                         "models/holdout_predictions.csv", "reports/intervals.json"}  # fmt: skip
    assert committed_outputs <= changed
    # evaluate's other committed reports change with the model where they measure it (its slices, say)
    maybe = {"reports/slices.json", "reports/inclusion.json", "reports/baseline.json", "reports/features.json"}
    assert {name for name in changed if not name.startswith("plots/")} - maybe == committed_outputs


def test_bad_params_fail_the_stage_by_key_name_and_keep_the_model(repo_copy: Repo) -> None:
    """A mistyped value and an unknown key are named; the failed train stage leaves the model loadable."""
    model_dir = repo_copy.path / "models" / "model"
    model_hash = modelio.content_hash(model_dir)
    key, _ = knob()
    repo_copy.set_param(key, -1)
    repo_copy.set_param("train.lerning_rate", 0.1)

    result = repo_copy.dvc("repro", check=False)

    assert result.returncode != 0
    assert key in result.stderr
    assert "train.lerning_rate: unknown key" in result.stderr
    assert modelio.content_hash(model_dir) == model_hash
    modelio.load(model_dir)


def test_dvc_exp_run_with_a_param_and_exp_show_lists_its_metrics(repo_copy: Repo) -> None:
    """`dvc exp run -S` runs an experiment; `dvc exp show` lists its metrics next to the baseline."""
    key, value = knob()
    repo_copy.dvc("exp", "run", "-S", f"{key}={value}", "-n", "tuned")
    shown = repo_copy.dvc("exp", "show", "--csv").stdout
    rows = list(__import__("csv").DictReader(shown.splitlines()))
    by_name = {r["Experiment"]: r for r in rows}
    assert "tuned" in by_name
    assert float(by_name["tuned"][key]) == float(value)
    metrics = json.loads((repo_copy.path / "metrics.json").read_text())  # the workspace's, not the experiment's
    primary = task_spec(TASK).primary
    assert by_name["tuned"][primary] != "" and abs(float(by_name["tuned"][primary])) < 1e12
    workspace = next(r for r in rows if r["Experiment"] in ("", "workspace") or r.get("rev") == "workspace")
    assert float(workspace[primary]) == pytest.approx(metrics[primary], abs=1e-5)


def test_bootstrap_without_remote_refuses_data_dvc_that_is_not_the_default(repo_copy: Repo) -> None:
    """With no remote, a data.dvc that does not describe the embedded data fails with what to do."""
    shutil.rmtree(repo_copy.path / "data")
    pointer = repo_copy.path / "data.dvc"
    recorded = yaml.safe_load(pointer.read_text())
    recorded["outs"][0]["md5"] = "0" * 32 + ".dir"
    pointer.write_text(yaml.safe_dump(recorded, sort_keys=False))
    result = repo_copy.pipelines("bootstrap", check=False)
    assert result.returncode == 1
    assert "dvc remote add" in result.stderr
    assert "Traceback" not in result.stderr


def test_bootstrap_pulls_from_a_configured_remote_instead_of_materialising(repo_copy: Repo, tmp_path: Path) -> None:
    """With a DVC remote, bootstrap runs `dvc pull`: data and cached outputs come back."""
    repo_copy.dvc("remote", "add", "-d", "storage", str(tmp_path / "remote"))
    repo_copy.dvc("push")
    shutil.rmtree(repo_copy.path / "data")
    shutil.rmtree(repo_copy.path / "models" / "model")
    shutil.rmtree(repo_copy.path / ".dvc" / "cache")

    result = repo_copy.pipelines("bootstrap")

    assert "pulled" in result.stderr
    assert (repo_copy.path / "models" / "model" / "MLmodel").exists()
    assert "up to date" in repo_copy.dvc("status").stdout


def test_a_remote_added_after_the_data_names_dvc_push_not_credentials(repo_copy: Repo, tmp_path: Path) -> None:
    """A project's own data (not the embedded default) and a remote just added, nothing pushed: `make data`
    fails with one line naming `dvc push`, not credentials; the embedded default is materialised instead."""
    repo_copy.dvc("remote", "add", "-d", "storage", str(tmp_path / "empty-remote"))
    (tmp_path / "empty-remote").mkdir()
    if IS_EXAMPLE:  # the demo: data.dvc records the embedded default, materialised so `dvc push` can put it there
        shutil.rmtree(repo_copy.path / "data")
        shutil.rmtree(repo_copy.path / ".dvc" / "cache")
        demo = repo_copy.pipelines("bootstrap")
        assert "does not hold data.dvc's data yet" in demo.stderr and (repo_copy.path / "data").is_dir()
    # a project's own table: data that is not the embedded default, recorded but never pushed
    table = next((repo_copy.path / "data").iterdir())  # CSV or Parquet: one row more, in its own format
    frame = read_project_data(repo_copy.path)
    grown = pd.concat([frame, frame.head(1)], ignore_index=True)
    if table.suffix == ".parquet":
        grown.to_parquet(table, index=False)
    else:
        grown.to_csv(table, index=False)
    repo_copy.dvc("add", "data")
    shutil.rmtree(repo_copy.path / "data")
    shutil.rmtree(repo_copy.path / ".dvc" / "cache")
    result = repo_copy.pipelines("bootstrap", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "`dvc push`" in line and "never pushed" in line, line
    assert "credentials" not in line, line
    assert not (repo_copy.path / "data").exists()


EXTRA_TREES = """

def _extra_trees(options: BaseModel, task: str, seed: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    trees = ExtraTreesRegressor if task == "regression" else ExtraTreesClassifier
    return trees(random_state=seed, n_jobs=1, **_set(options))


class ExtraTreesParams(_Options):
    n_estimators: PositiveInt
    min_samples_leaf: PositiveInt


ESTIMATORS["extra_trees"] = Estimator(
    params=ExtraTreesParams,
    build=_extra_trees,
    tasks=frozenset({"binary", "multiclass", "regression"}),
    trusted_types=("sklearn.tree._tree.Tree",),
)
"""


def test_an_estimator_added_in_yours_alone_trains_loads_and_serves(repo_copy: Repo, tmp_path: Path) -> None:
    """scikit-learn's ExtraTrees, which the template does not ship: one entry in pipelines/yours/estimators.py and
    its section in params.yaml; `make run` trains it, the allow-listed loader loads it, the service serves it."""
    from tests.helpers.service import Server, post

    estimators = repo_copy.path / "pipelines" / "yours" / "estimators.py"
    estimators.write_text(estimators.read_text() + EXTRA_TREES)
    params = yaml.safe_load((repo_copy.path / "params.yaml").read_text())
    params["train"]["estimator"] = "extra_trees"
    params["train"]["extra_trees"] = {"n_estimators": 40, "min_samples_leaf": 2}
    (repo_copy.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = {line[3:] for line in repo_copy.git("status", "--porcelain").stdout.splitlines()}
    assert changed == {"pipelines/yours/estimators.py", "params.yaml"}

    result = make_run(repo_copy)
    assert "fitting extra_trees" in result.stderr + result.stdout
    code = ("from pipelines.adapters import modelio; m = modelio.load('models/model'); "
            "print(type(m[-1]).__name__)")  # fmt: skip
    assert (
        repo_copy.run(repo_copy.env["PATH"].split(":")[0] + "/python", "-c", code)
        .stdout.strip()
        .startswith("ExtraTrees")
    )
    server = Server(repo_copy, "--log-dir", str(tmp_path / "logs"))
    try:
        server.wait_ready()
        example = json.loads((repo_copy.path / "models" / "model" / "serving_input_example.json").read_text())
        status, body = post(server.url, example)
    finally:
        server.stop()
    assert status == 200 and len(body["predictions"]) == len(example["dataframe_split"]["data"])


def test_mlflow_runs_log_in_the_background_and_an_unreachable_server_never_fails_the_stage(
    repo_copy: Repo, tmp_path: Path
) -> None:
    """Off CI the evaluate stage queues its run and a detached `track` logs it (once, even if `track` is run by
    hand meanwhile); with the tracking server down the stage still succeeds, warns, and keeps the run queued
    until `python -m pipelines track` can log it."""
    import time

    from mlflow.tracking import MlflowClient

    from tests.helpers.service import free_port

    env = {k: v for k, v in repo_copy.env.items() if k != "CI"} | {"PIPELINES_MLFLOW_BACKGROUND": "1"}
    background = Repo(repo_copy.path, env)
    background.dvc("repro", "--force", "-s", "evaluate")
    pending = repo_copy.path / "logs" / "tracking" / "pending"
    deadline = time.monotonic() + 60
    while any(p.is_dir() for p in pending.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.5)
    background.pipelines("track")  # waits for the detached flush's lock, then finds nothing left
    client = MlflowClient(tracking_uri=f"sqlite:///{repo_copy.path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(_experiment(repo_copy))
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2, "the trained copy's run and this one, each logged once"

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"}
    offline = Repo(repo_copy.path, {**repo_copy.env, "MLFLOW_TRACKING_URI": down, **quick})
    result = offline.dvc("repro", "--force", "-s", "evaluate")
    assert "warning: MLflow did not take the run" in result.stdout + result.stderr
    assert [p for p in pending.iterdir() if p.is_dir()], "the run is kept for later"
    still_down = offline.pipelines("track", check=False)
    assert still_down.returncode == 1 and "not logged, kept for later" in still_down.stderr
    background.pipelines("track")  # the local store is reachable: the queued run goes in
    assert not [p for p in pending.iterdir() if p.is_dir()]
    assert len(client.search_runs([experiment.experiment_id])) == 3


def _experiment(repo: Repo) -> str:
    return str(yaml.safe_load((repo.path / "params.yaml").read_text())["mlflow"]["experiment"])


_LOADED = (
    "import json, sys; from pipelines.cli import main; code = main(sys.argv[2:]); "
    "names = sorted(n for n in sys.modules if n.split('.')[0] in ('pipelines', 'deploy')); "
    "open(sys.argv[1], 'w').write(json.dumps(names)); sys.exit(code)"
)


def test_every_project_module_a_stage_imports_is_among_its_deps(repo_copy: Repo) -> None:
    """A stage's `deps` in dvc.yaml list exactly the project modules its command has loaded when it finishes, so
    moving code into a new module cannot make DVC skip a stage whose code changed, and a change to code a stage
    does not run does not re-run it. Each stage's command runs for real in
    a copy of the trained project (package __init__ files, docstrings only, aside)."""
    pipeline = yaml.safe_load((repo_copy.path / "dvc.yaml").read_text())
    paths = {k: str(v) for entry in pipeline["vars"] for k, v in entry["paths"].items()}
    loaded, missing, extra = repo_copy.path.parent / "loaded.json", {}, {}
    for name, stage in pipeline["stages"].items():
        command = " ".join(stage["cmd"].split())
        for key, value in paths.items():
            command = command.replace("${paths." + key + "}", value)
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "pipelines"], command
        repo_copy.run(sys.executable, "-c", _LOADED, str(loaded), *argv[3:], timeout=300)
        modules = {Path(*n.split(".")) for n in json.loads(loaded.read_text())}
        files = {f"{m}.py" for m in modules if not (ROOT / m).is_dir()}
        assert f"pipelines/jobs/stages/{name}.py" in files, files
        code = {str(dep) for dep in stage["deps"] if str(dep).endswith(".py")}
        if files - code:
            missing[name] = sorted(files - code)
        if code - files:  # a dep the stage does not load re-runs it (and every stage after it) for nothing
            extra[name] = sorted(code - files)
    assert not missing, f"dvc.yaml: stages load project modules their deps do not list: {missing}"
    assert not extra, f"dvc.yaml: stages list project modules they do not load: {extra}"
