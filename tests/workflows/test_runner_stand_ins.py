"""The workflow tier (tests/runner) can run every workflow: each action a workflow uses is run by act itself
or has a stand-in there that takes every input the workflows pass it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.helpers.project import ROOT
from tests.runner.sandbox import ACT_RUNS, HERE, STAND_INS, action_refs


def test_every_action_a_workflow_uses_is_run_by_act_or_has_a_stand_in() -> None:
    used = {ref.split("@")[0] for ref in action_refs(ROOT)}
    missing = sorted(used - ACT_RUNS - set(STAND_INS))
    assert not missing, f"no stand-in in tests/runner/actions/ for {missing}: add one and list it in STAND_INS"
    assert used >= set(STAND_INS), f"stand-ins for actions no workflow uses: {sorted(set(STAND_INS) - used)}"


def _with_inputs() -> list[tuple[str, str, tuple[str, ...]]]:
    found = []
    for path in [*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / ".github" / "actions").glob("*/action.yml")]:
        doc = yaml.safe_load(path.read_text())
        steps = [s for job in (doc.get("jobs") or {}).values() for s in job.get("steps", [])]
        steps += (doc.get("runs") or {}).get("steps", [])
        for step in steps:
            name = str(step.get("uses", "")).split("@")[0]
            if name in STAND_INS:
                found.append((path.name, name, tuple(sorted(step.get("with") or {}))))
    return found


@pytest.mark.parametrize(("workflow", "action", "given"), sorted(_with_inputs()), ids=str)
def test_each_stand_in_declares_the_inputs_the_workflows_pass(workflow: str, action: str, given: tuple[str]) -> None:
    inputs = set(given)
    declared = set(yaml.safe_load((HERE / "actions" / STAND_INS[action] / "action.yml").read_text())["inputs"])
    assert inputs <= declared, f"{workflow}: {action} gets {sorted(inputs - declared)}, which its stand-in lacks"


def test_the_tier_names_the_runs_on_label_every_job_uses() -> None:
    """act skips every job whose runs-on its platform map does not name, and exits 0: a false green."""
    from tests.runner.sandbox import RUNS_ON

    for path in (ROOT / ".github" / "workflows").glob("*.yml"):
        labels = set(re.findall(r"^\s+runs-on:\s*(\S+)", path.read_text(), re.M))
        assert labels <= {RUNS_ON}, f"{path.name}: runs-on {labels}; the tier maps only {RUNS_ON}"


def test_the_stand_ins_are_where_the_tier_looks() -> None:
    for folder in STAND_INS.values():
        assert (Path(HERE) / "actions" / folder / "action.yml").is_file()
