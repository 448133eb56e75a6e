"""`init` turns fresh copies of the template into projects on other data; `setup` dry-runs; updates merge.

The three copies (multiclass wine, regression diabetes, a generated binary CSV with text labels,
categorical columns and missing values) are set up concurrently, once per module.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.core.tasks import dvc_plots, task_spec
from tests.helpers.project import Repo, clone_template

pytestmark = [pytest.mark.slow, pytest.mark.example, pytest.mark.xdist_group("init")]


# The churn table's personal columns hold values no file may show (test_no_raw_personal_value_leaves_...): every
# income is 987654.xxxxxx (any rounding to 6 or more significant digits still reads 987654), every address and
# email starts PII-.
PERSONAL_NUMBER = re.compile(rb"(?<![0-9A-Za-z.])987654(?![0-9])")
PERSONAL_TEXT = b"PII-"


def _churn(path: Path) -> None:
    """600 customers: two numeric and two text columns with missing values, labels "no"/"yes"; and three personal
    columns whose values are unmistakable: an income and a home address (model inputs), an email (an identifier)."""
    rng = np.random.default_rng(0)
    n = 600
    tenure, calls = rng.normal(50, 10, n), rng.exponential(3, n)
    plan = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], n)
    logit = 0.08 * (tenure - 50) - 0.4 * calls + np.where(plan == "pro", -1.5, np.where(plan == "plus", -0.5, 0.8)) + 1
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    homes = np.array([f"PII-{k:012x} Elm St" for k in rng.integers(1, 2**48, 300)])  # 300 homes, two people each
    frame = pd.DataFrame({"tenure months": tenure.round(1), "support_calls": calls.round(2), "plan": plan,
                          "region": region, "income": 987654 + rng.integers(100_000, 999_999, n) / 1e6,
                          "home_address": homes[rng.integers(0, 300, n)],
                          "email": [f"PII-{k:06d}@example.invalid" for k in range(n)], "churned": churned})  # fmt: skip
    for column in ("tenure months", "plan", "region"):
        frame.loc[rng.random(n) < 0.08, column] = np.nan
    frame.to_csv(path, index=False)


def _datasets(directory: Path) -> dict[str, tuple[Path, str, str]]:
    from sklearn.datasets import load_diabetes, load_wine

    load_wine(as_frame=True).frame.to_csv(directory / "wine.csv", index=False)
    load_diabetes(as_frame=True, scaled=False).frame.to_parquet(directory / "diabetes.parquet", index=False)
    _churn(directory / "churn.csv")
    return {
        "wine": (directory / "wine.csv", "target", "multiclass"),
        "diabetes": (directory / "diabetes.parquet", "target", "regression"),
        "churn": (directory / "churn.csv", "churned", "binary"),
    }


def _adapt(repo: Repo, dataset: Path, target: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """What a new user does: init, run the pipeline, commit; then what CI does on a pull request."""
    out = {"init": repo.pipelines("init", "--dataset", str(dataset), "--target", target, "--name", dataset.stem)}
    out["repro"] = repo.dvc("repro")
    out["first check"] = repo.pipelines("reproduce", "--no-run", "--advisory")  # what `make run` does next
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "init")
    out["report"] = repo.pipelines("report", "--base", "HEAD", "--out", str(repo.path.parent / "pr.md"))
    out["gate"] = repo.pipelines("gate", "--base", "HEAD", check=False)
    return out


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Repo, str, dict]]:
    data_dir = tmp_path_factory.mktemp("datasets")
    datasets = _datasets(data_dir)
    repos = {name: clone_template(tmp_path_factory.mktemp(name)) for name in datasets}
    with ThreadPoolExecutor(len(datasets)) as pool:
        futures = {name: pool.submit(_adapt, repos[name], path, target) for name, (path, target, _) in datasets.items()}
        return {name: (repos[name], datasets[name][2], futures[name].result(), datasets[name][0]) for name in datasets}


@pytest.mark.parametrize("name", ["wine", "diabetes", "churn"])
def test_init_infers_the_task_and_the_pipeline_report_and_gate_work(projects: dict, name: str) -> None:
    """On wine (multiclass), diabetes (regression, Parquet) and a generated CSV with text labels,
    categories and missing values: the task is inferred, the schema passes its data, the whole
    pipeline runs, every task metric and plot is produced, and the first model passes its gate."""
    repo, task, out, _ = projects[name]
    assert f"task: {task}" in out["init"].stderr
    first = [line for line in out["first check"].stderr.splitlines() if line.startswith("[reproduce]")]
    assert len(first) == 1 and "nothing of this project is committed yet" in first[0], first  # not 19 lines
    schema = (repo.path / "pipelines" / "yours" / "schema.py").read_text()
    assert f'TASK: Task = "{task}"' in schema
    metrics = json.loads((repo.path / "metrics.json").read_text())
    assert set(metrics) == set(task_spec(task).metrics) and all(np.isfinite(list(metrics.values())))
    assert yaml.safe_load((repo.path / "dvc.yaml").read_text())["plots"] == dvc_plots(task)
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    # init proposes slices where the holdout can fill them (wine's 36 rows cannot fill two of 30), with floors on
    # those it can judge; the diabetes table has columns named sex and age: init measures their groups' gaps
    sliced = name != "wine"
    assert bool(params["evaluate"]["slices"]) == bool(params["gate"]["slice_floors"]) == sliced, params["evaluate"]
    assert ("slices judged on the holdout" in out["init"].stderr) == sliced
    assert bool(params["evaluate"]["sensitive"]) == (name == "diabetes") == bool(params["gate"]["max_group_gap"])
    extra = (["slices.png"] if sliced else []) + (["inclusion.png"] if name == "diabetes" else [])
    figures = sorted([*task_spec(task).figures, *extra])
    assert sorted(p.name for p in (repo.path / "reports" / "figures").iterdir()) == figures
    judged = {
        e["slice"] for e in json.loads((repo.path / "reports" / "slices.json").read_text())["slices"] if e["judged"]
    }
    assert set(params["gate"]["slice_floors"]) <= judged  # every floor init wrote judges a slice evaluate reports
    assert set(params["gate"]["floors"]) <= set(task_spec(task).metrics)
    assert out["gate"].returncode == 0, out["gate"].stderr
    report = (repo.path.parent / "pr.md").read_text()
    assert ("### Slices" in report and "slice floor" in report) == sliced
    assert ("### Inclusion" in report and "| group gap | `mae_difference` · `sex` |" in report) == (name == "diabetes")
    assert report.startswith("## ✅ Model gate passed")
    assert f"| `{task_spec(task).metrics[0]}` |" in report
    assert "xychart-beta" in report  # charts for this task, not the binary ones
    assert "up to date" in repo.dvc("status").stdout


def test_the_categorical_schema_keeps_missing_values_and_text_labels(projects: dict) -> None:
    """The generated schema declares categories, nullability, the "no"/"yes" target as written, each input's source
    (the table) and privacy tag, and the deny-list with the reason for each entry."""
    repo, _, _, _ = projects["churn"]
    schema = (repo.path / "pipelines" / "yours" / "schema.py").read_text()
    assert 'alias="tenure months"' in schema
    # each field also carries its pandera metadata (source, privacy), wherever ruff wraps the line
    assert re.search(r'plan: Series\[str\] = pa\.Field\(\s*isin=\["basic", "plus", "pro"\],\s*nullable=True,\s*'
                     r'metadata=\{"source": "churn", "privacy": "internal"\}', schema)  # fmt: skip
    assert re.search(r'churned: Series\[str\] = pa\.Field\(\s*isin=\["no", "yes"\],\s*nullable=False,\s*'
                     r'metadata=\{"privacy": "internal"\}', schema)  # fmt: skip
    assert 'SOURCES: dict[str, str] = {"churn": "the table init read (churn.csv)"}' in schema
    diabetes = projects["diabetes"][0]
    found = diabetes.run(
        sys.executable,
        "-c",
        "from pipelines.adapters.params import load_contract as c; k = c(); "
        "print(sorted(k.denied), k.personal, k.input_violations(), 'age' in k.features)",
    ).stdout
    assert found.strip() == "['age', 'sex'] ['age', 'sex'] [] False", found  # protected: kept beside, denied


def _leaks(data: bytes) -> list[str]:
    """Which of the churn table's personal values `data` holds: the income (at 6 or more significant digits) or
    the text of an address or an email."""
    return [name for name, found in (("income", PERSONAL_NUMBER.search(data)), ("address or email",
                                     PERSONAL_TEXT in data)) if found]  # fmt: skip


def _written(root: Path) -> list[Path]:
    """Every file under `root` a writer made, but the data itself and the model's own bytes: data/, build/,
    quarantine/ and a quarantined batch's data.csv (the data; its report.json is read), .dvc/ (its cache), .git/
    (objects; the tracked files are read in the work tree), and model.skops (the fitted model, which holds what it
    learned), wherever a copy of the model is; and tests/ (the template's own code)."""
    skipped = {"data", "build", "quarantine", ".dvc", ".git", "tests"}  # tests/: the template's own code (this file)
    return [p for p in root.rglob("*") if p.is_file() and p.name not in ("model.skops", "data.csv", "batch.csv")
            and not skipped & set(p.relative_to(root).parts[:1])]  # fmt: skip


def _post(url: str, path: str, payload: object) -> dict:
    request = urllib.request.Request(f"{url}{path}", json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return dict(json.loads(answer.read()))


def test_no_raw_personal_value_leaves_the_data_and_the_model(projects: dict, tmp_path: Path) -> None:
    """The churn project, whose income, home address and email init tagged personal, after the pipeline (validation
    report and profile, model and its input example, drift reference, MLflow), its image serving traffic (the
    Dockerfile's CMD in the build context, whose contract reaches the service: prediction and feedback logs,
    /metrics), monitoring, the refused feedback ingest and the pull-request report: no file and no command output
    holds any of their values. Reverting any one protection fails here, naming the file."""
    from tests.helpers.service import die_with_parent, free_port, json_rows, wait_http_ok

    repo, _, out, dataset = projects["churn"]
    schema = (repo.path / "pipelines" / "yours" / "schema.py").read_text().replace('"', "'")
    for column in ("income", "home_address", "email"):
        assert re.search(rf"\b{column}: Series\[\w+\] = pa\.Field\([^)]*'privacy': 'personal'", schema), column
    context, logs, outcomes = tmp_path / "image", tmp_path / "logs", tmp_path / "outcomes"
    repo.pipelines("image-context", "--out", str(context))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (context / "Dockerfile").read_text(), re.M).group(1))  # type: ignore[union-attr]
    args, port = [sys.executable, *cmd[1:]], str(free_port())
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", port
    env = {**repo.env, "SERVE_LOG_DIRECTORY": str(logs), "SERVE_FEEDBACK_DIRECTORY": str(outcomes)}
    process = subprocess.Popen(args, cwd=context, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=die_with_parent)  # fmt: skip
    url, served = f"http://127.0.0.1:{port}", []
    try:
        wait_http_ok(f"{url}/health/ready", 60, process)
        columns = json.loads((context / "model" / "input_example.json").read_text())["columns"]
        frame = pd.read_csv(dataset, keep_default_na=False, na_values=[""])
        rows = json_rows(frame[columns].head(300))
        ids = [i for start in (0, 100, 200) for i in _post(url, "/invocations",
               {"dataframe_split": {"columns": columns, "data": rows[start : start + 100]}})["ids"]]  # fmt: skip
        _post(url, "/feedback", [{"id": i, "label": y} for i, y in zip(ids[:50], frame["churned"], strict=False)])
        _post(url, "/invocations", json.loads((context / "model" / "serving_input_example.json").read_text()))
        served.append(urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode())
    finally:
        process.terminate()
        served += process.communicate(timeout=30)
    monitored = repo.pipelines("monitor", "--logs", str(logs), "--feedback", str(outcomes), "--out",
                               str(tmp_path / "monitor.md"), "--verdict", str(tmp_path / "drift.json"),
                               "--prometheus", str(tmp_path / "monitor.prom"))  # fmt: skip
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    params["ingest"]["feedback"] = True
    params["monitor"].update(logs=str(logs), feedback=str(outcomes))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    ingest = repo.pipelines("ingest", "--params", str(tmp_path / "params.yaml"), check=False)
    bad = frame.head(3).assign(income=[-987654.123456, *frame["income"][1:3]])  # below 0: a failing personal value
    bad.to_csv(tmp_path / "batch.csv", index=False)
    params["ingest"].update(feedback=False, source=str(tmp_path / "batch.csv"), quarantine=str(tmp_path / "refused"))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    refused = repo.pipelines("ingest", "--params", str(tmp_path / "params.yaml"))  # its report.json is an artifact
    template = repo.git("rev-list", "--max-parents=0", "HEAD").stdout.strip()  # its data differs: a data section
    report = repo.pipelines("report", "--base", template, "--out", str(tmp_path / "pr.md"))
    # explain: the log withholds the personal inputs, so the one asking supplies them (and sees them)
    withheld = repo.pipelines("explain", "--id", ids[0], "--logs", str(logs), check=False)
    first = frame[columns].iloc[0]
    given = {c: (None if pd.isna(first[c]) else first[c].item() if hasattr(first[c], "item") else first[c])
             for c in ("income", "home_address")}  # fmt: skip
    explained = repo.pipelines("explain", "--id", ids[0], "--logs", str(logs), "--row", json.dumps(given))

    leaked = {f"{name}/{p.relative_to(root)}": _leaks(p.read_bytes())
              for name, root in (("project", repo.path), ("served", tmp_path)) for p in _written(root)}  # fmt: skip
    said = {"/metrics": served[0], "serve": served[1] + served[2], "monitor": monitored.stderr, "ingest": ingest.stderr,
            "ingest of a bad batch": refused.stderr, "report": report.stderr,
            **{name: r.stdout + r.stderr for name, r in out.items()}}  # fmt: skip
    leaked |= {f"the output of {name}": _leaks(text.encode()) for name, text in said.items()}
    assert {where: what for where, what in leaked.items() if what} == {}
    assert (repo.path / "mlflow.db").exists() and any((repo.path / "mlruns").rglob("input_example.json"))
    assert "personal input(s) scored but never logged: income, home_address" in said["serve"]
    assert "Not monitored: `income` (personal), `home_address` (personal)" in (tmp_path / "monitor.md").read_text()
    assert ingest.returncode == 1 and "1 quarantined" in refused.stderr
    assert "(withheld: personal)" in next((tmp_path / "refused").glob("*/report.json")).read_text()
    assert "does not keep income (personal), home_address (personal), email (not a model input)" in ingest.stderr
    personal = "not profiled beyond their missing rate: `email`, `home_address`, `income`"  # as the JSON sorts them
    assert personal in (tmp_path / "pr.md").read_text()
    assert withheld.returncode == 1 and "withholds its personal input(s) income, home_address" in withheld.stderr
    assert _leaks(withheld.stderr.encode()) == [] and "matches the logged output" in explained.stdout


def test_a_degraded_model_fails_the_gate_on_the_new_data(projects: dict) -> None:
    """A pull request that cripples the model fails the gate with the first-model floor named."""
    repo, _, _, _ = projects["wine"]
    repo.git("checkout", "-q", "-b", "degrade")
    repo.set_param("train.estimator", "hist_gradient_boosting")
    repo.set_param("train.hist_gradient_boosting.max_iter", 1)
    repo.set_param("train.hist_gradient_boosting.learning_rate", 0.01)
    repo.dvc("repro")
    gate = repo.pipelines("gate", "--base", "main", check=False)
    assert gate.returncode == 1
    assert "FAIL: accuracy = " in gate.stderr and "is below the floor 0.9200" in gate.stderr
    repo.git("checkout", "-q", "--", ".")
    repo.git("checkout", "-q", "main")
    repo.dvc("checkout", "-q", check=False)


def test_the_projects_own_tests_pass_after_init(projects: dict) -> None:
    """In the adapted copy, the tests that read its schema pass (the whole suite is too long to nest here)."""
    repo, _, _, _ = projects["churn"]
    result = repo.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit/test_features.py",
                      "tests/unit/test_params.py", "tests/unit/test_gate.py", check=False, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
    ruff = str(Path(sys.executable).parent / "ruff")  # the fork's `make lint` checks the schema init wrote
    for name, (project, _, _, _) in projects.items():
        lint = project.run(ruff, "check", "pipelines/yours/schema.py", check=False)
        assert lint.returncode == 0, f"{name}: {lint.stdout[-2000:]}"


def test_init_twice_changes_nothing_the_second_time(projects: dict) -> None:
    """Running init again with the same options writes nothing and says so."""
    repo, _, _, dataset = projects["diabetes"]
    before = repo.git("rev-parse", "HEAD").stdout
    result = repo.pipelines("init", "--dataset", str(dataset), "--target", "target", "--name", "diabetes")
    assert "nothing to change" in result.stderr
    assert repo.git("status", "--porcelain").stdout == "" and repo.git("rev-parse", "HEAD").stdout == before


def test_init_refuses_a_repository_that_has_diverged(tmp_path: Path) -> None:
    """After a hand edit of a file init owns, init refuses, names the file and what to do, and writes nothing."""
    repo = clone_template(tmp_path)
    params = repo.path / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42", "seed: 7", 1))
    repo.git("commit", "-qam", "tune the seed by hand")

    result = repo.pipelines("init", "--name", "acme", "--model-name", "acme-model", check=False)

    assert result.returncode == 1
    assert "diverged from the template: params.yaml changed since the template" in result.stderr
    assert "docs/FORKING.md" in result.stderr and "Traceback" not in result.stderr
    assert repo.git("status", "--porcelain").stdout == ""


def test_init_sets_names_environments_remote_and_tracking_uri(tmp_path: Path) -> None:
    """Identity options land in the files that hold them, and the renamed workflows still lint clean."""
    repo = clone_template(tmp_path)
    repo.pipelines("init", "--name", "churn", "--model-name", "churn-model", "--environments", "qa,live",
                   "--reviewers", "alice,acme/ml-leads", "--image", "ghcr.io/acme/churn",
                   "--dvc-remote", str(tmp_path / "remote"), "--mlflow-uri", "https://mlflow.example.com",
                   "--repo-url", "https://github.com/acme/churn.git")  # fmt: skip
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    assert params["environments"]["model_name"] == "churn-model" and params["mlflow"]["experiment"] == "churn"
    assert [(s["name"], s["promote_from"]) for s in params["environments"]["order"]] == [
        ("qa", "main"),
        ("live", "qa"),
    ]
    settings = yaml.safe_load((repo.path / ".github" / "protection.yml").read_text())
    assert settings["environments"]["live"]["reviewers"] == ["alice", "acme/ml-leads"]
    assert settings["variables"] == {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"}
    deploy = (repo.path / ".github" / "workflows" / "deploy.yml").read_text()
    main = (repo.path / ".github" / "workflows" / "main.yml").read_text()
    assert "branches: [qa, live]" in deploy and "IMAGE: ghcr.io/acme/churn\n" in deploy
    assert "IMAGE: ghcr.io/acme/churn\n" in main  # where the image is built, once
    assert "staging" not in deploy and "production" not in deploy
    assert repo.dvc("remote", "list").stdout.split()[:2] == ["storage", str(tmp_path / "remote")]
    assert repo.run("zizmor", "--offline", ".github/", check=False).returncode == 0
    overlays = repo.path / "deploy" / "k8s" / "overlays"
    assert sorted(p.name for p in overlays.iterdir()) == ["live", "qa"]  # renamed, the old ones gone
    for env in ("qa", "live"):
        render = repo.pipelines("render", "--env", env, "--image", "ghcr.io/acme/churn@sha256:" + "1" * 64)
        assert f"namespace: ml-{env}" in render.stdout and "gitops-ml/environment: " + env in render.stdout
        assert "ghcr.io/acme/churn" in (overlays / env / "kustomization.yaml").read_text()
    apps = yaml.safe_load((repo.path / "deploy" / "argocd" / "applicationset.yaml").read_text())
    assert [e["environment"] for e in apps["spec"]["generators"][0]["list"]["elements"]] == ["qa", "live"]
    assert apps["spec"]["template"]["spec"]["source"]["repoURL"] == "https://github.com/acme/churn.git"
    assert repo.pipelines("init", "--name", "churn", "--model-name", "churn-model", "--environments", "qa,live",
                          "--reviewers", "alice,acme/ml-leads", "--image", "ghcr.io/acme/churn",
                          "--dvc-remote", str(tmp_path / "remote"), "--mlflow-uri", "https://mlflow.example.com",
                          "--repo-url", "https://github.com/acme/churn.git").stderr.count("wrote") == 0  # fmt: skip
    repo.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows",
             *sorted(str(p) for p in (repo.path / ".github" / "workflows").glob("*.yml")))  # fmt: skip

    dry = repo.pipelines("setup", "--repo", "acme/churn", "--dry-run")
    main_sha = repo.git("rev-parse", "main").stdout.strip()
    assert (
        "# only if branch qa does not exist yet\ngh api --method POST repos/acme/churn/git/refs --input - <<'JSON'\n"
        + json.dumps({"ref": "refs/heads/qa", "sha": main_sha}, indent=2)
    ) in dry.stdout
    for call in (
        "PUT repos/acme/churn/environments/live",
        "POST repos/acme/churn/actions/variables",
        "PUT repos/acme/churn/branches/main/protection",
        "PUT repos/acme/churn/branches/live/protection",
    ):
        assert f"gh api --method {call}" in dry.stdout


def test_setup_refuses_production_without_reviewers(tmp_path: Path) -> None:
    """The template ships production without reviewers: setup says so before any API call."""
    repo = clone_template(tmp_path)
    result = repo.pipelines("setup", "--repo", "acme/churn", check=False)
    assert result.returncode == 1 and "environments.production.reviewers is empty" in result.stderr


def test_template_updates_merge_into_an_adapted_project(projects: dict, tmp_path: Path) -> None:
    """docs/FORKING.md's update path: the template as a git remote, merged; the project keeps its data contract."""
    repo, _, _, _ = projects["wine"]
    upstream = repo.run("git", "remote", "get-url", "origin").stdout.strip()  # still the template's commit
    maintainer = Repo(tmp_path / "template", repo.env)
    subprocess.run(["git", "clone", "-q", "-b", "main", upstream, str(maintainer.path)], check=True, env=repo.env)
    report = maintainer.path / "pipelines" / "core" / "reports.py"
    report.write_text(report.read_text() + "\n# a template improvement\n")
    maintainer.git("commit", "-qam", "template: improve the report")
    maintainer.git("push", "-q", "origin", "main")
    schema = (repo.path / "pipelines" / "yours" / "schema.py").read_text()

    repo.git("remote", "add", "template", upstream)
    repo.git("fetch", "-q", "template")
    merged = repo.git("merge", "--no-edit", "template/main", check=False)

    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "# a template improvement" in (repo.path / "pipelines" / "core" / "reports.py").read_text()
    assert (repo.path / "pipelines" / "yours" / "schema.py").read_text() == schema


@pytest.mark.parametrize("name", ["wine", "diabetes"])
def test_registry_and_the_promotion_report_show_the_tasks_own_metrics_and_never_nan(
    projects: dict, name: str, tmp_path: Path
) -> None:
    """Multiclass and regression projects: `registry` and the promotion report headline their task's metrics."""
    repo, task, _, _ = projects[name]
    manifest = json.loads((repo.path / "models" / "manifest.json").read_text())
    release = {"model_hash": manifest["content_hash"], "image": "ghcr.io/acme/x@sha256:" + "1" * 64}
    repo.git("checkout", "-q", "-b", "staging")
    (repo.path / "models" / "release.json").write_text(json.dumps(release))
    repo.git("add", "models/release.json")
    repo.git("commit", "-q", "-m", "a release on staging")
    repo.git("checkout", "-q", "main")
    try:
        table = repo.pipelines("registry").stdout
        report = tmp_path / "promotion.md"
        repo.pipelines("promotion-gate", "--env", "staging", "--candidate", "HEAD", "--report", str(report),
                       "--report-only")  # fmt: skip
        text = report.read_text()
    finally:
        repo.git("branch", "-q", "-D", "staging")
    assert "nan" not in table.lower() and "nan" not in text.lower()
    header = table.splitlines()[0]
    assert all(metric in header for metric in task_spec(task).headline), header
    assert "| staging | v1 |" in table
    assert all(f"`{metric}`" in text for metric in task_spec(task).metrics)
