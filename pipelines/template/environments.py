"""Adding an environment to an existing project (`python -m pipelines add-environment NAME`): every file that
lists the environments, in one command, comments and layout kept.

The environments live in params.yaml (`environments.order`, the promotion order); other files repeat the
list because GitHub and Argo CD cannot read params.yaml: the workflows' branch filters and choices
(deploy.yml, promotion-gate.yml, rollback.yml; deploy-kind.yml names the first environment), branch
protection and GitHub Environments (.github/protection.yml), the Argo CD ApplicationSet, and one kustomize
overlay per environment. This module writes all of them, and refuses rather than leave one behind (a list
written in a form it does not recognise); tests/workflows/test_workflows.py checks that they agree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipelines.template import edits
from pipelines.template.infer import InitError
from pipelines.template.record import APPLICATIONS, OVERLAYS, WORKFLOWS

NAME = re.compile(r"^[a-z]([a-z0-9-]{0,58}[a-z0-9])?$")  # params.yaml's rule: a branch, and ml-<name> a namespace
RESERVED = frozenset({"main", "promote", "retrain", "rollback", "template-update"})  # branch names or prefixes in use
LISTED = {  # where a workflow lists the environments (after the first key: the path inside the YAML)
    "deploy.yml": (("on", "push", "branches"),),
    "promotion-gate.yml": (("on", "pull_request", "branches"),),
    "rollback.yml": (("on", "workflow_dispatch", "inputs", "environment", "options"),),
}


def add_environment(root: Path, name: str, after: str | None, rollback: str) -> dict[str, str]:
    """The files to write (path -> text) to add environment `name`, promoted from `after` (an environment, or
    "main"; None: after the last one), with `rollback` ("commit" or "pull_request"). The environment that was
    promoted from `after` is promoted from `name` instead. Its overlay starts as a copy of the environment it
    is promoted from (or the first one), renamed and unpromoted (no image digest, zero replicas until its first
    promotion). InitError naming the problem for a bad name, an existing one, or an unknown `after`."""
    params_text = (root / "params.yaml").read_text()
    data = edits._load(params_text)
    order = edits.environment_order(data)
    names = [str(e["name"]) for e in order]
    if not NAME.fullmatch(name):
        raise InitError(
            f"{name!r} is not an environment name: at most 60 lowercase letters, digits and '-', starting with a "
            "letter and ending with a letter or digit (a branch, and the namespace ml-<name>)"
        )
    if name in names or name == "main":
        raise InitError(f"{name!r} is an environment already ({', '.join(['main', *names])})")
    if name in RESERVED:
        raise InitError(f"{name!r} is taken: the project's branches use it ({', '.join(sorted(RESERVED))})")
    after = after or names[-1]
    if after != "main" and after not in names:
        raise InitError(f"--after {after!r}: not main or an environment ({', '.join(names)})")
    if rollback not in ("commit", "pull_request"):
        raise InitError(f"--rollback {rollback!r}: commit or pull_request")
    position = 0 if after == "main" else names.index(after) + 1
    from ruamel.yaml.comments import CommentedMap

    for env in order:
        if env["promote_from"] == after:
            env["promote_from"] = name
    order.insert(position, CommentedMap(name=name, promote_from=after, rollback=rollback))
    new_names = [str(e["name"]) for e in order]
    source = after if after != "main" else names[0]
    chain = " -> ".join(["main", *new_names])
    writes = {
        "params.yaml": re.sub(r"(# Promotion order: )main(?: -> [a-z0-9-]+)+", rf"\g<1>{chain}", edits._dump(data))
    }
    writes |= _workflows(root, names, new_names)
    writes[".github/protection.yml"] = _protection((root / ".github/protection.yml").read_text(), source, name)
    overlay = root / OVERLAYS / source / "kustomization.yaml"
    if overlay.exists():
        writes[f"{OVERLAYS}/{name}/kustomization.yaml"] = _overlay(overlay.read_text(), source, name)
    if (root / APPLICATIONS).exists():
        writes[APPLICATIONS] = _applications((root / APPLICATIONS).read_text(), position, name, source)
    return writes


def _workflows(root: Path, old: list[str], new: list[str]) -> dict[str, str]:
    """Every workflow that lists the environments: flow lists `[a, b]` and deploy.yml's `if:` on the branch."""
    listed = re.compile(r"\[" + r",\s*".join(re.escape(n) for n in old) + r"\]")
    condition = re.compile(r"github\.ref_name == '[^']+'(?: \|\| github\.ref_name == '[^']+')*")
    either = " || ".join(f"github.ref_name == '{n}'" for n in new)
    first = re.compile(r"^(\s*ENVIRONMENT: )" + re.escape(old[0]) + r"(\s+# the first environment)", re.M)
    found = {}
    for path in sorted((root / ".github" / WORKFLOWS).glob("*.yml")):
        text = path.read_text()
        changed = listed.sub("[" + ", ".join(new) + "]", text)
        changed = condition.sub(either, changed) if listed.search(text) else changed
        changed = first.sub(rf"\g<1>{new[0]}\g<2>", changed)
        if changed != text:
            found[str(path.relative_to(root))] = changed
        for where in LISTED.get(path.name, ()):
            _check_listed(yaml_load(changed), where, old, new, str(path.relative_to(root)))
    return found


def yaml_load(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _check_listed(doc: Any, where: tuple[str, ...], old: list[str], names: list[str], path: str) -> None:
    """InitError unless `doc` lists exactly `names` at `where` (YAML's `on` reads as True)."""
    node = doc
    for key in where:
        node = node.get(True if key == "on" and True in node else key) if isinstance(node, dict) else None
    if node != names:
        raise InitError(
            f"{path}: {'.'.join(where)} is not the list add-environment edits ([{', '.join(old)}], on one line); "
            "write it so, or add the environment there by hand; nothing was written"
        )


def _protection(text: str, source: str, name: str) -> str:
    """.github/protection.yml with `name`'s branch rules copied from `source`'s and a GitHub Environment without
    reviewers (add them before `make protect`)."""
    import copy

    data = edits._load(text)
    for section, default in (("branches", None), ("environments", {"reviewers": []})):
        entries = data.get(section)
        if entries is None:
            continue
        value: Any = default
        if source in entries and default is None:  # the source's rules without its comments (they name it)
            value = {k: _flow(v) if isinstance(v, list) else copy.deepcopy(v) for k, v in entries[source].items()}
        keys = list(entries)
        entries.insert(keys.index(source) + 1 if source in keys else len(keys), name, value)
    return edits._dump(data)


def _flow(values: list[Any]) -> Any:
    """A YAML flow list (`[a, b]`) of `values`, without the comments of the list it was copied from."""
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(list(values))
    seq.fa.set_flow_style()
    return seq


def _overlay(text: str, source: str, name: str) -> str:
    """`source`'s overlay renamed to `name` (labels, log prefix, namespace ml-<name>), unpromoted: the image
    without a digest and the component that holds it at zero replicas until the first promotion."""
    data = edits._load(edits.rename_environments(text, [source], [name]))
    if "namespace" in data:
        data["namespace"] = f"ml-{name}"
    from pipelines.adapters.overlays import UNPROMOTED_COMPONENT
    from pipelines.core import k8s_policy as policy

    components = data.setdefault("components", [])
    if UNPROMOTED_COMPONENT not in components:
        components.append(UNPROMOTED_COMPONENT)
    for image in data.get("images") or []:
        image.pop("digest", None)
    data["labels"] = [e for e in (data.get("labels") or []) if policy.VERSION_LABEL not in (e.get("pairs") or {})]
    if policy.HASH_ANNOTATION in (data.get("commonAnnotations") or {}):
        del data["commonAnnotations"]
    return edits._dump(data)


def _applications(text: str, position: int, name: str, source: str) -> str:
    """The ApplicationSet with an element for `name`, synced as `source`'s is (automated or by hand)."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    data = edits._load(text)
    elements = next(g["list"]["elements"] for g in data["spec"]["generators"] if "list" in g)
    automated = next((str(e.get("automated")) for e in elements if e.get("environment") == source), "false")
    elements.insert(position, CommentedMap(environment=name, automated=DoubleQuotedScalarString(automated)))
    return edits._dump(data)
