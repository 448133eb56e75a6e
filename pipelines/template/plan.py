"""Making a fresh copy of the template someone's own project: `python -m pipelines init`.

`plan` works out every file change without touching anything: the project's names, its
environments, its remotes and, with a dataset, a starting schema, the task, and gate floors that
the first model meets on the same holdout split `make run` will use. `apply` then writes it.
A copy is "fresh" when every file init owns is as the template shipped it or as init last wrote it
(pipelines.template.record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.template import codegen, edits, floors, infer, slicing
from pipelines.template.infer import InitError
from pipelines.template.options import Options
from pipelines.template.record import (
    APPLICATIONS,
    OVERLAYS,
    RECORD,
    SCHEMA,
    WORKFLOWS,
    current_hashes,
    diverged,
    owned_files,
    read_record,
    render_record,
)


@dataclass
class Plan:
    """Every change init would make; empty when the copy is already set up this way."""

    writes: dict[str, str] = field(default_factory=dict)  # path -> new text
    removes: list[str] = field(default_factory=list)  # paths to delete (an environment's renamed overlay)
    data_file: Path | None = None  # the dataset to place in data/ (then `dvc add`)
    task: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what init noticed and chose, for its summary

    @property
    def empty(self) -> bool:
        """Whether init would change nothing."""
        return not self.writes and not self.removes and self.data_file is None


def _read_dataset(path: Path, missing_values: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """The user's table, read as the pipeline will read it; its column names checked first, as written in
    the file (pandas would silently rename a duplicate to `name.1` and an empty one to `Unnamed: 3`)."""
    from pipelines.adapters.files import read_table

    if path.suffix not in (".csv", ".parquet"):
        raise InitError(f"{path}: expected a .csv or .parquet file")
    try:
        if path.suffix == ".csv":
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
            infer.check_names(header.iloc[0].tolist() if len(header) else [])
        else:
            import pyarrow.parquet as pq

            infer.check_names(list(pq.read_schema(path).names))
        return read_table(path, missing_values)
    except InitError:
        raise
    except FileNotFoundError:
        raise InitError(f"{path}: no such file") from None
    except Exception as exc:  # pandas and pyarrow raise many types for unreadable files
        raise InitError(f"{path}: cannot be read: {exc}") from None


def _data_in_place(root: Path, dataset: Path, data_dir: str) -> bool:
    files = [p for p in (root / data_dir).rglob("*") if p.is_file()] if (root / data_dir).is_dir() else []
    return len(files) == 1 and files[0].name == dataset.name and files[0].read_bytes() == dataset.read_bytes()


def plan(root: Path, options: Options) -> Plan:
    """Work out init's changes for `options` in the repository at `root`; write nothing.

    Raises InitError for a diverged copy, bad options, or a dataset that cannot start a project.
    """
    from pipelines.adapters.params import estimators, load_paths
    from pipelines.core.params import parse_params
    from pipelines.core.tasks import task_spec

    record = read_record(root)
    changed = diverged(root, record)
    if changed:
        raise InitError(
            "this repository has diverged from the template: "
            + ", ".join(changed)
            + f" changed since {'init last ran' if record.get('initialised') else 'the template'} ({RECORD}). "
            "init only sets up a fresh copy and will not overwrite your edits. Make the change by hand instead "
            "(docs/FORKING.md lists where each setting lives), or run init in a fresh copy of the template."
        )
    if options.dvc_endpoint and not options.dvc_remote:
        raise InitError("--dvc-endpoint sets the endpoint of the remote --dvc-remote names: pass both")
    if options.environments and len(set(options.environments)) != 2:
        raise InitError("--environments takes two different names: the first is promoted from main, then the second")
    for name in options.environments or ():
        if not re.fullmatch(r"[a-z][a-z0-9-]*", name) or name == "main":
            raise InitError(f"environment name {name!r}: use lower-case letters, digits and '-', not 'main'")
    result = Plan()
    params_text = (root / "params.yaml").read_text()
    current = parse_params(_yaml_safe(params_text), "params.yaml", estimators())
    old_envs = [s.name for s in current.environments.order]
    if len(old_envs) != 2:
        raise InitError(f"params.yaml defines {len(old_envs)} environments; init renames exactly two")

    gates = None
    sliced: tuple[list[Any], dict[str, Any], list[str]] = ([], {}, [])  # evaluate.slices, gate.slice_floors, notes
    included: tuple[list[Any], dict[str, Any], list[str]] = ([], {}, [])  # evaluate.sensitive, gate.max_group_gap
    task = None
    balance = None
    if options.dataset is not None:
        markers = options.missing_values if options.missing_values is not None else current.data.missing_values
        frame = _read_dataset(options.dataset, markers)
        if not options.target or options.target not in frame.columns:
            raise InitError(
                f"--target {options.target!r} is not a column of {options.dataset.name}; "
                f"its columns are: {', '.join(map(str, frame.columns[:30]))}"
            )
        missing = int(frame[options.target].isna().sum())
        if missing:
            raise InitError(f"target column {options.target!r} has {missing} missing value(s): drop those rows first")
        if len(frame) < 20:
            raise InitError(
                f"{options.dataset.name} has {len(frame)} rows; at least 20 are needed to train and hold out"
            )
        unknown = [c for c in options.keep_columns if c not in frame.columns]
        if unknown:
            raise InitError(f"--keep-columns: {', '.join(map(repr, unknown))} not column(s) of {options.dataset.name}")
        infer.check_numbers(frame)
        task = options.task or infer.infer_task(frame[options.target])
        if task != "regression":
            infer.check_classes(frame[options.target], current.split.test_size)
        csv = options.dataset.suffix == ".csv"  # in Parquet a missing value is a real null; "NA" is text
        for column, hits in (infer.missing_markers(frame) if csv else {}).items():
            found = ", ".join(f"{marker!r} ({rows} rows)" for marker, rows in sorted(hits.items()))
            result.notes.append(
                f"column {column!r} holds {found}: kept as values, not missing; if they mean missing, run init "
                "with --missing-values (e.g. ',NA') or list them in params.yaml data.missing_values"
            )
        for column, (stray, row) in infer.almost_numbers(frame.drop(columns=[options.target])).items():
            fix = "fix those cells (or name them in --missing-values) to use numbers"
            result.notes.append(f"column {column!r} holds numbers except in {stray} row(s) (e.g. row {row}): {fix}")
        duplicates = int(frame.duplicated().sum())
        if duplicates:
            result.notes.append(f"{duplicates} row(s) repeat another row exactly: the split can put copies in both "
                                "the training rows and the holdout, which flatters the holdout's metrics; drop them "
                                "unless repeats are real")  # fmt: skip
        inferred = infer.infer_columns(frame, options.target, task, frozenset(options.keep_columns))
        for column, reason in inferred.reasons.items():
            result.notes.append(
                f"column {column!r} looks like {reason}: kept in the data, left out of the model inputs "
                "(pass --keep-columns to use it)"
            )
        personal = [c.name for c in [*inferred.features, *inferred.others] if c.privacy == "personal"]
        if personal:
            result.notes.append(
                f"tagged personal (scored, never logged, reported or profiled beyond counts; docs/OPERATIONS.md, "
                f"Privacy): {', '.join(map(repr, personal))}; review the tags in pipelines/yours/schema.py"
            )
        if inferred.timestamps:
            result.notes.append(
                f"to judge the model on the newest rows, set split.order_by: {inferred.timestamps[0]} and "
                "split.stratify: false in params.yaml (a time-ordered holdout)"
            )
        balance = floors.imbalance(frame[options.target]) if task == "binary" else None
        if balance is not None:
            result.notes.append(
                f"the target is imbalanced (the smaller class is {balance:.1%} of rows): training uses balanced "
                "class weights, and the floors keep half of the first model's lead over predicting the "
                "majority class (average_precision and recall are the ones to watch)"
            )
        source = codegen.render_schema(inferred, task, options.dataset.name, len(frame))
        code = codegen.formatted(source, root)
        contract = infer.contract_for(inferred, task, options.dataset.name)
        from pipelines.core.data import DataError
        from pipelines.core.validation import DataValidationError, validate

        try:
            validate(frame, contract.raw)
        except DataValidationError as error:
            raise InitError(f"{options.dataset.name} does not pass the schema inferred from it:\n{error}") from None
        zeros = dict.fromkeys(task_spec(task).gated, 0.0)
        setup = edits.Setup(task, balanced=balance is not None, missing_values=options.missing_values)
        provisional = edits.edit_params(params_text, options, setup, (zeros, zeros, zeros))
        params = parse_params(_yaml_safe(provisional), "params.yaml", estimators())
        try:
            fit = floors.first_fit(frame, contract, params)
        except DataError as exc:
            raise InitError(str(exc)) from None
        result.scores, trivial_scores = floors.scores_of(fit, contract, params.evaluate.threshold)
        specs = slicing.propose(fit, inferred, params.evaluate.slice_min_rows)
        sliced = (specs, *slicing.slice_floors(fit, contract, params, specs))
        if specs:
            result.notes += [slicing.edges_note(specs), *(f"  {line}" for line in sliced[2])]
        sensitive = slicing.propose_sensitive(fit, inferred, params.evaluate.slice_min_rows)
        included = (sensitive, *slicing.group_gap_limits(fit, contract, params, sensitive))
        if sensitive:
            result.notes.append("columns named like a protected attribute, whose groups the model should treat alike "
                                "(evaluate.sensitive; review, and add any init did not recognise):")  # fmt: skip
            result.notes += [f"  {line}" for line in included[2]]
        weighted = balance is not None
        gates = floors.floors_for(result.scores, task, trivial_scores, weighted)
        for metric, why in floors.UNGATED_WHEN_WEIGHTED.items() if weighted else ():
            result.notes.append(f"{metric} is not gated: {why}")
        behind = floors.without_lead(result.scores, trivial_scores, floors.gated_metrics(task, weighted))
        if behind:  # its floor cannot keep a lead the model does not have: the trivial model passes it
            trivial = "the mean" if task == "regression" else "the class priors"
            shown = ", ".join(f"{m} {result.scores[m]:.4f} vs {trivial_scores[m]:.4f}" for m in behind)
            result.notes.append(f"warning: the first model is no better than predicting {trivial} on {shown}: "
                                "those floors do not stop the trivial model")  # fmt: skip
        result.writes[SCHEMA] = code
        result.writes["dvc.yaml"] = edits.edit_dvc_yaml((root / "dvc.yaml").read_text(), task)
        data_dir = load_paths(root / "dvc.yaml")["data"]
        if not _data_in_place(root, options.dataset, data_dir):
            result.data_file = options.dataset
        result.task = task
    setup = (
        edits.Setup(
            task,
            balanced=balance is not None,
            missing_values=options.missing_values,
            slices=tuple(sliced[0]),
            slice_floors=sliced[1],
            sensitive=tuple(included[0]),
            max_group_gap=included[1],
        )
        if task is not None
        else edits.Setup(None, missing_values=options.missing_values)
    )
    result.writes["params.yaml"] = edits.edit_params(params_text, options, setup, gates)
    settings = (root / ".github/protection.yml").read_text()
    result.writes[".github/protection.yml"] = edits.edit_settings(settings, options, old_envs)
    for name in owned_files(root):
        if name.startswith(f".github/{WORKFLOWS}/"):
            result.writes[name] = edits.edit_workflow((root / name).read_text(), options, old_envs)
    new_envs = list(options.environments) if options.environments else old_envs
    for old, new in zip(old_envs, new_envs, strict=True):
        overlay = root / OVERLAYS / old / "kustomization.yaml"
        if not overlay.exists():
            continue
        text = edits.edit_overlay(overlay.read_text(), options, old_envs, new)
        result.writes[f"{OVERLAYS}/{new}/kustomization.yaml"] = text
        if new != old:
            result.removes.append(f"{OVERLAYS}/{old}/kustomization.yaml")
    if (root / APPLICATIONS).exists():
        result.writes[APPLICATIONS] = edits.edit_applications((root / APPLICATIONS).read_text(), options, old_envs)
    if options.dvc_remote:
        config = root / ".dvc" / "config"
        existing = config.read_text() if config.exists() else ""
        result.writes[".dvc/config"] = edits.edit_dvc_config(existing, options.dvc_remote, options.dvc_endpoint)
    # keep only real changes, so that a second run with the same options changes nothing
    result.writes = {k: v for k, v in result.writes.items() if not (root / k).exists() or (root / k).read_text() != v}
    return result


def _yaml_safe(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def apply(root: Path, options: Options, result: Plan) -> list[str]:
    """Write the plan, place the dataset and `dvc add` it, then update the record; return what changed.

    `root` must be the working directory (DVC commands run there).
    """
    import contextlib
    import shutil

    from pipelines.adapters import dvc, files
    from pipelines.adapters.params import load_paths

    changed = sorted([*result.writes, *result.removes])
    if result.data_file is not None:
        data_dir = root / load_paths(root / "dvc.yaml")["data"]
        if data_dir.exists() and any(data_dir.iterdir()):
            if dvc.workspace_matches(data_dir.name):
                dvc.cache("data.dvc")
            else:
                raise InitError(
                    f"{data_dir.name}/ holds files that data.dvc does not describe; commit them with `dvc add` "
                    "(or move them away) before init replaces the data"
                )
    for name, text in result.writes.items():
        files.write_text(root / name, text)
    for name in result.removes:
        (root / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the renamed environment's directory, once empty
            (root / name).parent.rmdir()
    if result.data_file is not None:
        with files.atomic_dir(data_dir) as tmp:
            shutil.copyfile(result.data_file, tmp / result.data_file.name)
        try:
            dvc.add(data_dir.name)
        except dvc.DvcError as exc:
            raise InitError(str(exc)) from None
        changed += [f"{data_dir.name}/{result.data_file.name}", "data.dvc"]
    record = read_record(root)
    wanted = options.recorded()
    if changed or not record.get("initialised") or record.get("options") != wanted:
        files.write_text(root / RECORD, render_record(current_hashes(root), wanted))
        changed.append(RECORD)
    return sorted(set(changed))
