"""The project a test runs on, and how tests drive it: its data, contract and params (after `init`, the user's),
real git working copies with a bare `origin` (`Repo`, `clone_template`), the README's main command
(`make_run`), and small edits that change a model on any table (`cripple`, `nudge`, `knob`). Plain functions
and constants; the fixtures that build on them are in tests/conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.adapters.params import estimators, load_contract, load_params

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = load_contract()
"""The project's data contract (pipelines/yours/schema.py): after `init`, the user's."""
PARAMS = load_params(ROOT / "params.yaml")
ESTIMATORS = estimators()
FEATURES = CONTRACT.features


def _data_is_the_bundled_example() -> bool:
    """Whether data.dvc records exactly the embedded breast-cancer dataset (the hash DVC gives a directory
    holding only its CSV), whatever .template.yml says: a fork that swapped the data by hand is not."""
    import hashlib
    import json

    from pipelines.core.data import DEFAULT_FILE, default_csv, parse_pointer

    _, recorded = parse_pointer((ROOT / "data.dvc").read_text())
    entry = [{"md5": hashlib.md5(default_csv()).hexdigest(), "relpath": DEFAULT_FILE}]
    return recorded == hashlib.md5(json.dumps(entry, sort_keys=True).encode()).hexdigest() + ".dir"


IS_EXAMPLE = _data_is_the_bundled_example()


# The suite's own virtual environment (sys.prefix, never resolved: the venv's python is a symlink to the
# base interpreter), reused by `make` in copies so that a test does not install a second one.
VENV = Path(sys.prefix) if sys.prefix != sys.base_prefix else None


def tool_env(tmp: Path) -> dict[str, str]:
    """Environment for subprocesses: this venv first, no telemetry, caches inside `tmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "PANDERA_", "GIT_", "GITHUB_"))}
    env.update(
        PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        DVC_NO_ANALYTICS="1",
        DVC_SITE_CACHE_DIR=str(tmp / "dvc-site-cache"),
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(tmp / "home"),
        # MLflow runs logged before a stage ends, so that a test sees them at once (test_pipeline tests the
        # background path on its own)
        PIPELINES_MLFLOW_BACKGROUND="0",
    )
    (tmp / "home").mkdir(exist_ok=True)
    return env


def other_blas_kernel() -> str | None:
    """An OpenBLAS kernel (OPENBLAS_CORETYPE) other than the one this environment selects, that this CPU
    can run: Prescott (SSE3, every x86-64 CPU), or Haswell (AVX2) when Prescott is the one selected.
    None off x86-64, where the kernel names differ. Whether the two give different model bytes on
    this CPU is for the caller to check."""
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    if os.environ.get("OPENBLAS_CORETYPE", "").lower() != "prescott":
        return "Prescott"
    cpuinfo = Path("/proc/cpuinfo")
    return "Haswell" if cpuinfo.exists() and " avx2" in cpuinfo.read_text() else None


class Repo:
    """A working copy of the template with a bare `origin`, and helpers to run commands in it."""

    def __init__(self, path: Path, env: dict[str, str]):
        self.path = path
        self.env = env

    def run(self, *cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(cmd), cwd=self.path, env=self.env, text=True, capture_output=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("git", *args, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dvc", *args, check=check)

    def pipelines(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "pipelines", *args, check=check)

    def set_param(self, dotted: str, value: object) -> None:
        """Edit one key of params.yaml, e.g. set_param("train.logistic_regression.C", 0.3)."""
        import yaml

        path = self.path / "params.yaml"
        data = yaml.safe_load(path.read_text())
        *parents, leaf = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[leaf] = value
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def copy(self, dest: Path) -> Repo:
        """An independent copy: work tree, git history, DVC cache, and its own copy of the bare origin."""
        shutil.copytree(self.path, dest, symlinks=True)
        origin = self.run("git", "remote", "get-url", "origin", check=False).stdout.strip()
        if origin:
            own_origin = dest.parent / f"{dest.name}-origin.git"
            shutil.copytree(origin, own_origin, symlinks=True)
            subprocess.run(["git", "remote", "set-url", "origin", str(own_origin)], cwd=dest, check=True)
        return Repo(dest, self.env)


def make_run(repo: Repo) -> subprocess.CompletedProcess[str]:
    """The README's main command in `repo`, reusing this suite's environment and uv (no second install)."""
    make = ["make", "run"] + ([f"VENV={VENV}"] if VENV else [])
    uv = shutil.which("uv") or (ROOT / ".tools" / "bin" / "uv")
    if Path(uv).exists():
        make.append(f"UV={uv}")
    return repo.run(*make, timeout=600)


def clone_template(tmp: Path) -> Repo:
    """Copy the template (tracked and new, non-ignored files) into `tmp/work`, commit it on `main`
    and push to a bare `tmp/origin.git`: what a fork looks like, including uncommitted edits."""
    env = tool_env(tmp)
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    work = tmp / "work"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    data = ROOT / "data"  # not in git (DVC tracks it): a project's own data has no embedded copy to rebuild
    if data.is_dir():
        shutil.copytree(data, work / "data")
    repo = Repo(work, env)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "template")
    subprocess.run(["git", "init", "-q", "--bare", str(tmp / "origin.git")], check=True, env=env)
    repo.git("remote", "add", "origin", str(tmp / "origin.git"))
    repo.git("push", "-q", "-u", "origin", "main")
    return repo


def read_project_data(root: Path = ROOT) -> pd.DataFrame:
    """The project's labelled rows as the `validate` stage reads and types them (raw schema, missing-value
    markers from params.yaml). Without data/ (a checkout before `make data`) the embedded default, when that
    is what data.dvc records; else a failure that says how to get the data."""
    from pipelines.adapters import files
    from pipelines.adapters.params import load_paths
    from pipelines.core.validation import validate

    data = root / load_paths(root / "dvc.yaml")["data"]
    if data.exists():
        frame, _ = files.read_raw(data, PARAMS.data.missing_values)
    elif IS_EXAMPLE:
        from pipelines.core.data import default_dataset

        frame = default_dataset()
    else:
        pytest.fail(f"{data} is missing: `make data` (or `dvc pull`) fetches the project's data first")
    validated, _ = validate(frame, CONTRACT.raw)
    return validated


def forbidden_cell() -> tuple[str, object]:
    """A model-input column and a value its contract forbids (below a numeric bound, or an unknown
    category): how tests break one cell of the project's own data."""
    from deploy.payload import InputSpec

    input_spec = InputSpec.from_schema(CONTRACT.inputs)
    for j, name in enumerate(input_spec.names):
        if input_spec.numeric[j] and input_spec.low[j] > float("-inf"):
            return name, float(input_spec.low[j]) - max(1.0, abs(float(input_spec.low[j])))
    for j, name in enumerate(input_spec.names):
        if input_spec.allowed and input_spec.allowed[j] is not None:
            return name, "\u2603 not a category"
    for j, name in enumerate(input_spec.names):
        if input_spec.numeric[j]:
            return name, "not a number"
    pytest.fail("the contract forbids nothing a test can put in one cell")


def noisy_sample(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` of the project's rows with +-1% noise on the numeric inputs: new data from the same source."""
    import numpy as np

    sample = frame.sample(rows, random_state=seed, replace=rows > len(frame)).reset_index(drop=True)
    numeric = CONTRACT.numeric
    rng = np.random.default_rng(seed)
    sample[numeric] = sample[numeric] * rng.uniform(0.99, 1.01, size=(rows, len(numeric)))
    return sample


def cripple(repo: Repo) -> None:
    """Make `repo`'s model one that has learnt nothing, on any table: a one-tree forest whose leaves must hold
    more rows than there are, so it never splits and answers a constant (the training class shares, or the
    mean). It is worse than any model with skill on the task's primary metric (ROC AUC 0.5, R² about 0, one
    class for every row), whatever the table's balance or weighting: what the gate must refuse."""
    repo.set_param("train.estimator", "random_forest")
    repo.set_param("train.random_forest.n_estimators", 1)
    repo.set_param("train.random_forest.min_samples_leaf", 10**9)


def nudge(repo: Repo) -> None:
    """Change `repo`'s model a little (other bytes, about the same numbers): the configured estimator's first
    float hyper-parameter times 0.98, or its seed plus one."""
    estimator = PARAMS.train.estimator
    for key, value in PARAMS.train.sections()[estimator].items():
        if isinstance(value, float) and value > 0:
            repo.set_param(f"train.{estimator}.{key}", round(value * 0.98, 6))
            return
    repo.set_param("train.seed", PARAMS.train.seed + 1)


def knob() -> tuple[str, float | int]:
    """A numeric hyper-parameter of the configured estimator (its dotted params.yaml key) and another valid value."""
    estimator = PARAMS.train.estimator
    for key, value in PARAMS.train.sections()[estimator].items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        return f"train.{estimator}.{key}", (max(1, value // 2) if isinstance(value, int) else value * 0.5) or 0.5
    pytest.fail(f"train.{estimator} has no numeric hyper-parameter to change")
