"""Editing the files init owns, keeping their comments and layout (ruamel round trip, configobj)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.core.params import SliceSpec
from pipelines.template.options import Options


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments and layout survive
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )  # `null`, as the template writes it, rather than an empty value
    return yaml


def _load(text: str) -> Any:
    return _yaml().load(text)


def _dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _replace(mapping: Any, values: Mapping[str, float]) -> None:
    """Replace a mapping's items in place, keeping the comment lines that follow its last item."""
    tail = mapping.ca.items.get(list(mapping)[-1]) if len(mapping) else None
    for key in list(mapping):
        del mapping[key]
    for key, value in values.items():
        mapping[key] = value
    if tail is not None and len(mapping):
        mapping.ca.items[list(mapping)[-1]] = tail


@dataclass(frozen=True)
class Setup:
    """What init chose for the data: the task (None without a dataset), balanced class weights for an
    imbalanced binary target, the CSV missing-value markers (None keeps params.yaml's), and the slices judged."""

    task: str | None
    balanced: bool = False
    missing_values: tuple[str, ...] | None = None
    slices: tuple[SliceSpec, ...] = ()  # evaluate.slices (pipelines.template.slicing)
    slice_floors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # gate.slice_floors
    sensitive: tuple[SliceSpec, ...] = ()  # evaluate.sensitive (pipelines.template.slicing)
    max_group_gap: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # gate.max_group_gap


def _comment(mapping: Any, key: str, text: str) -> None:
    """Replace the end-of-line comment of `key` (so that a kept comment stays true for the new task)."""
    mapping.ca.items.pop(key, None)
    mapping.yaml_add_eol_comment(text, key, column=24)


def edit_params(text: str, options: Options, setup: Setup, gates: tuple[dict, dict, dict] | None) -> str:
    """params.yaml with the project's names, environments and (with a dataset) task settings."""
    data = _load(text)
    task = setup.task
    if setup.missing_values is not None:
        data["data"]["missing_values"] = list(setup.missing_values)
    data["mlflow"]["experiment"] = options.name
    if options.model_name:
        data["environments"]["model_name"] = options.model_name
    stages = environment_order(data)
    if options.environments:
        previous = "main"
        for stage, name in zip(stages, options.environments, strict=True):
            stage["name"], stage["promote_from"] = name, previous
            previous = name
    if task is not None and gates is not None:
        floors, regression, production = gates
        data["split"]["stratify"] = task != "regression"
        if "staleness" in data:
            from pipelines.core.tasks import task_spec

            data["staleness"]["metric"] = task_spec(task).primary
        if task == "regression":
            _comment(data["split"], "stratify", "a number has no classes to balance (true needs a label)")
            _comment(data["evaluate"], "threshold", "used by binary tasks only (the positive-class cut-off)")
        elif task == "multiclass":
            _comment(data["evaluate"], "threshold", "used by binary tasks only; multiclass takes the likeliest class")
        from pipelines.adapters.params import estimators

        train = data["train"]
        weighted = [name for name, e in estimators().items() if "class_weight" in e.params.model_fields]
        if task == "regression":
            train["estimator"] = "ridge"
            if data["evaluate"].get("baseline") == "logistic_regression":  # the task's linear model is the baseline
                data["evaluate"]["baseline"] = "ridge"
            if "logistic_regression" in train:
                del train["logistic_regression"]
            if "ridge" not in train:
                from ruamel.yaml.comments import CommentedMap

                train.insert(list(train).index("reference_discrete_max") + 1, "ridge", CommentedMap(alpha=1.0))
                train.yaml_add_eol_comment("L2 regularisation strength of the linear model", "ridge")
            for section in weighted:
                if section in train and "class_weight" in train[section]:
                    del train[section]["class_weight"]
        else:
            train["estimator"] = "logistic_regression"
            for section in (s for s in weighted if s in train):  # every estimator that weighs classes
                if setup.balanced:
                    train[section]["class_weight"] = "balanced"
                    _comment(train[section], "class_weight", "init: the target is imbalanced")
        _replace(data["gate"]["floors"], floors)
        _slices(data, setup)
        _replace(data["gate"]["max_regression"], regression)
        # a new input must earn its place: its removal must hurt the primary metric by more than half the regression
        # a change may cost (pipelines.core.benefit); the template's own example only reports
        data["gate"]["feature_rule"] = "new_features"
        primary = task_spec(task).primary
        if primary in regression:
            data["evaluate"]["benefit_margin"] = float(f"{regression[primary] / 2:.3g}")
        for stage in stages[1:]:
            if "max_regression" in stage:
                _replace(stage["max_regression"], production)
    return _dump(data)


def _slices(data: Any, setup: Setup) -> None:
    """evaluate.slices, gate.slice_floors, evaluate.sensitive and gate.max_group_gap as init proposes them (an
    empty list and mapping for none)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def specs(found: Sequence[SliceSpec]) -> Any:
        out = CommentedSeq()
        for spec in found:
            entry = CommentedMap(column=spec.column)
            if spec.edges is not None:
                entry["edges"] = CommentedSeq(spec.edges)
                entry["edges"].fa.set_flow_style()
            out.append(entry)
        if not out:
            out.fa.set_flow_style()  # `[]`
        return out

    def rules(found: Mapping[str, Mapping[str, float]]) -> Any:
        out = CommentedMap()
        for name, limits in found.items():
            out[name] = CommentedMap(limits)
            out[name].fa.set_flow_style()
        if not out:
            out.fa.set_flow_style()  # `{}`
        return out

    def put(section: Any, key: str, value: Any) -> None:  # unchanged values keep their layout (init runs twice)
        if json.loads(json.dumps(section.get(key))) != json.loads(json.dumps(value)):
            section[key] = value

    put(data["evaluate"], "slices", specs(setup.slices))
    put(data["evaluate"], "sensitive", specs(setup.sensitive))
    put(data["gate"], "slice_floors", rules(setup.slice_floors))
    put(data["gate"], "max_group_gap", rules(setup.max_group_gap))


def environment_order(data: Any) -> Any:
    """params.yaml's `environments.order` in a round-trip `data`, renamed in place from its old name `stages`
    (pipelines.core.params.RENAMED_KEYS) when a file still uses that."""
    envs = data["environments"]
    if "order" not in envs and "stages" in envs:
        envs.insert(list(envs).index("stages"), "order", envs.pop("stages"))
    return envs["order"]


def edit_dvc_yaml(text: str, task: str) -> str:
    """dvc.yaml with the `plots:` section for `task` (see tasks.dvc_plots)."""
    from pipelines.core.tasks import dvc_plots

    data = _load(text)
    directory = data["vars"][0]["paths"]["plots"]
    data["plots"] = dvc_plots(task, directory)
    return _dump(data)


def rename_environments(text: str, old: Sequence[str], new: Sequence[str]) -> str:
    """Replace each old environment name, as a whole word, by the new one (workflows, settings)."""
    mapping = dict(zip(old, new, strict=True))
    if not mapping or all(a == b for a, b in mapping.items()):
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(o) for o in old) + r")(?![\w-])")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def edit_settings(text: str, options: Options, old_envs: Sequence[str]) -> str:
    """.github/protection.yml: environment names, production reviewers, repository variables."""
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    data = _load(text)
    envs = list(data.get("environments") or {})
    if options.reviewers is not None and envs:
        data["environments"][envs[-1]]["reviewers"] = list(options.reviewers)
    if options.mlflow_uri is not None:
        data.setdefault("variables", {})["MLFLOW_TRACKING_URI"] = options.mlflow_uri
    return _dump(data)


IMAGE_LINE = re.compile(r"^(\s*IMAGE: ).+$", re.M)
"""The `IMAGE: registry/name` lines of main.yml (build) and deploy.yml (registry login)."""


def edit_workflow(text: str, options: Options, old_envs: Sequence[str]) -> str:
    """A workflow with the environments renamed and the image name set, when init was asked to."""
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    if options.image:
        text = IMAGE_LINE.sub(lambda m: f"{m.group(1)}{options.image}", text)
    return text


def edit_overlay(text: str, options: Options, old_envs: Sequence[str], env: str) -> str:
    """Environment `env`'s Kubernetes overlay (deploy/k8s/overlays/<env>/kustomization.yaml) with the
    environments renamed (labels, log prefix), its namespace `ml-<env>`, and the image name set, when init
    was asked to."""
    if not options.environments and not options.image:
        return text
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    data = _load(text)
    if "namespace" in data:
        data["namespace"] = f"ml-{env}"
    for entry in data.get("images") or []:
        if options.image:
            entry["newName"] = options.image
    return _dump(data)


def edit_applications(text: str, options: Options, old_envs: Sequence[str]) -> str:
    """deploy/argocd/applicationset.yaml with the environments renamed and the repository URL set."""
    if options.environments:
        text = rename_environments(text, old_envs, options.environments)
    if options.repo_url:
        data = _load(text)
        data["spec"]["template"]["spec"]["source"]["repoURL"] = options.repo_url
        text = _dump(data)
    return text


def edit_dvc_config(text: str, url: str, endpoint: str | None = None) -> str:
    """.dvc/config with `url` as the default remote named `storage` (and, for an S3-compatible store such as
    the team stack's MinIO, its `endpointurl`), in DVC's own layout (configobj, the library DVC reads its
    config with; comments and other settings stay). Credentials never go here: environment variables or
    .dvc/config.local."""
    from configobj import ConfigObj

    config = ConfigObj(text.splitlines())
    config.setdefault("core", {})["remote"] = "storage"
    config.setdefault('remote "storage"', {})["url"] = url
    if endpoint:
        config['remote "storage"']["endpointurl"] = endpoint
    config.indent_type = "    "
    return "\n".join(config.write()) + "\n"
