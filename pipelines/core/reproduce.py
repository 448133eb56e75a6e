"""What "reproduced" means: a re-run's outputs agree with the committed ones within declared tolerances.

Floating-point training differs in the last bits between CPUs (OpenBLAS picks a kernel per CPU),
so a model trained from the same data, code and params on another machine can have other bytes
and the same numbers. A re-run therefore reproduces a commit when, stage by stage:

- the stage's inputs are the ones its committed `dvc.lock` entry records (command, params and
  dependencies that are not another stage's output): otherwise the lock is *stale*;
- outputs of the stages listed in `reproduce.exact_stages` (no floating-point training) are
  byte-identical;
- committed numeric outputs (JSON, CSV: metrics, plot data, the training profile) agree within
  `reproduce.tolerance`;
- the model directory and its manifest, whose bytes need not agree, are judged by the model's
  outputs on a fixed sample of holdout rows recorded at evaluation (`holdout_predictions`), within
  `reproduce.prediction_tolerance`;
- cached outputs that git does not hold (PNG figures drawn from the plot data) are not compared.

Everything here works on data handed in (lock mappings, file contents); `pipelines.jobs.judging.reproduction` reads
the files and git. Numbers a (reproduced) and b (committed) agree when
|a - b| <= tolerance * max(1, |b|).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines.core.numbers import Files, Status, compare_files

FAILING: frozenset[str] = frozenset({"differs", "stale"})


@dataclass(frozen=True)
class Output:
    """One output of a stage as dvc.yaml declares it."""

    stage: str
    path: str
    cached: bool  # False: `cache: false`, the file is committed to git


@dataclass(frozen=True)
class Finding:
    """The verdict on one output (or, for `stale`, on one stage's recorded inputs)."""

    stage: str
    path: str
    status: Status
    detail: str = ""
    largest: float | None = None  # largest difference found, in the tolerance's units

    @property
    def failed(self) -> bool:
        """Whether this finding makes the reproduction fail (differs or stale)."""
        return self.status in FAILING


@dataclass(frozen=True)
class Reproduction:
    """The outcome of comparing a re-run with the outputs committed at `rev`."""

    rev: str  # the commit the committed outputs were read at (a full hash, so a verdict names its commit)
    findings: list[Finding] = field(default_factory=list)
    commit_paths: str = ""  # what to `git add` after a re-run: dvc.lock and every output git holds
    forced: bool = False  # whether every stage was re-run (dvc repro --force), cached or not

    @property
    def ok(self) -> bool:
        """Whether every output reproduces (identical, equivalent or not compared)."""
        return not any(f.failed for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        """The findings that make it fail."""
        return [f for f in self.findings if f.failed]

    @property
    def stale_stages(self) -> list[str]:
        """The stages whose committed dvc.lock entry is not what the re-run recorded."""
        return sorted({f.stage for f in self.findings if f.status == "stale"})

    @property
    def equivalent(self) -> list[Finding]:
        """The outputs whose bytes differ while their numbers agree."""
        return [f for f in self.findings if f.status == "equivalent"]

    @property
    def fix(self) -> str:
        """The commands that bring the committed outputs in line ("" when they are)."""
        if self.ok:
            return ""
        # a stale lock needs only the stages whose inputs changed; outputs that disagree with what
        # the same inputs give need every stage re-run, since DVC would restore them from its cache
        repro = "dvc repro" if self.stale_stages else "dvc repro --force"
        return f"run `{repro}`, then `git add {self.commit_paths or 'dvc.lock'}` and commit"

    def headline(self) -> str:
        """One line: whether the committed outputs reproduce, and if not why and what to run."""
        short = self.rev[:12]
        if self.ok:
            if not self.equivalent:
                return f"reproduced: every output is byte-identical to {short}'s"
            differ = ", ".join(sorted({f.path for f in self.equivalent}))
            return (
                f"reproduced: every output agrees with {short}'s within the tolerances in params.yaml "
                f"(reproduce:); bytes differ but numbers agree for {differ}"
            )
        stale = self.stale_stages
        if stale:
            first = next(f for f in self.findings if f.status == "stale")
            reason = f"the committed dvc.lock is stale: stage {', '.join(stale)} ({first.detail})"
        else:
            first = self.failures[0]
            reason = f"stage {first.stage}: {first.path} does not reproduce ({first.detail})"
        return f"{reason}; {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `reproduce --verdict` writes)."""
        findings = [asdict(f) for f in self.findings]
        return {
            "rev": self.rev,
            "ok": self.ok,
            "forced": self.forced,
            "headline": self.headline(),
            "fix": self.fix,
            "commit_paths": self.commit_paths,
            "findings": findings,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reproduction:
        """The inverse of `to_dict`."""
        findings = [Finding(**f) for f in data.get("findings", [])]
        return cls(str(data["rev"]), findings, str(data.get("commit_paths", "")), bool(data.get("forced", False)))


# --- comparing dvc.lock entries ------------------------------------------------------------------


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _params(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A lock entry's params as dotted keys; keys from a file other than params.yaml carry its name."""
    flat = {}
    for source, values in (entry.get("params") or {}).items():
        for key, value in _flatten(values):
            flat[key if source == "params.yaml" else f"{source}:{key}"] = value
    return flat


def _hash(entry: Mapping[str, Any]) -> str:
    return str(entry.get("md5") or entry.get("hash") or "")


def stage_inputs_changed(committed: Mapping[str, Any], produced: Mapping[str, Any], outputs: set[str]) -> list[str]:
    """How a stage's recorded inputs differ between two dvc.lock entries (command, params, deps).

    Dependencies that are another stage's output are left out: their agreement is judged where
    they are produced.
    """
    changes = []
    if committed.get("cmd") != produced.get("cmd"):
        changes.append("command changed")
    old, new = _params(committed), _params(produced)
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if keys:
        changes.append("params changed: " + ", ".join(f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in keys))
    old_deps = {d["path"]: _hash(d) for d in committed.get("deps") or [] if d["path"] not in outputs}
    new_deps = {d["path"]: _hash(d) for d in produced.get("deps") or [] if d["path"] not in outputs}
    for path in sorted(set(old_deps) | set(new_deps)):
        if path not in new_deps:
            changes.append(f"dependency removed: {path}")
        elif path not in old_deps:
            changes.append(f"dependency added: {path}")
        elif old_deps[path] != new_deps[path]:
            changes.append(f"dependency changed: {path}")
    return changes


@dataclass(frozen=True)
class Criteria:
    """The tolerances (params.yaml `reproduce:`) and the paths with a special role (dvc.yaml `paths`)."""

    exact_stages: frozenset[str]
    tolerance: float
    prediction_tolerance: float
    model: str  # the model directory: its bytes may differ, judged by `holdout_predictions`
    manifest: str  # the model's file hashes: differ exactly when the model's bytes do
    holdout_predictions: str  # the model's outputs on the recorded holdout rows


def _lock_stages(lock: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return dict(lock.get("stages") or {})


def judge_rerun(
    rev: str,
    committed_lock: Mapping[str, Any],
    produced_lock: Mapping[str, Any],
    outputs: Mapping[str, Output],
    committed_files: Callable[[str], Files | None],
    produced_files: Callable[[str], Files],
    criteria: Criteria,
) -> Reproduction:
    """Judge a re-run (`produced_lock`, `produced_files`) against what `rev` committed.

    `outputs` maps each output path in dvc.yaml to its stage and whether git holds it;
    `committed_files(path)` returns that output's files at `rev` (None if absent) and is asked only
    for outputs git holds; `produced_files(path)` returns the workspace's.
    """
    old_stages, new_stages = _lock_stages(committed_lock), _lock_stages(produced_lock)
    findings: list[Finding] = []
    out_paths = {o["path"] for body in new_stages.values() for o in body.get("outs") or []}
    out_paths |= {o["path"] for body in old_stages.values() for o in body.get("outs") or []}
    for stage in sorted(set(old_stages) - set(new_stages)):
        findings.append(Finding(stage, "dvc.lock", "stale", "in the committed dvc.lock but no longer produced"))
    predictions: Finding | None = None
    model_rows: list[tuple[str, str, str]] = []  # (stage, path, note) judged by the predictions
    for stage, body in new_stages.items():
        before = old_stages.get(stage)
        if before is None:
            findings.append(Finding(stage, "dvc.lock", "stale", "not in the committed dvc.lock"))
            continue
        for change in stage_inputs_changed(before, body, out_paths):
            findings.append(Finding(stage, "dvc.lock", "stale", change))
        old_outs = {o["path"]: _hash(o) for o in before.get("outs") or []}
        for out in body.get("outs") or []:
            path, digest = out["path"], _hash(out)
            if path not in old_outs:
                findings.append(Finding(stage, path, "stale", "not in the committed dvc.lock"))
                continue
            declared = outputs.get(path, Output(stage, path, cached=True))
            if declared.cached:  # only its hash is committed (dvc.lock)
                if digest == old_outs[path]:
                    findings.append(Finding(stage, path, "identical"))
                elif stage in criteria.exact_stages:
                    findings.append(Finding(stage, path, "differs", "must be byte-identical (reproduce.exact_stages)"))
                elif path == criteria.model:
                    model_rows.append((stage, path, f"md5 {old_outs[path][:8]} -> {digest[:8]}"))
                else:
                    derived = "bytes differ; not in git (drawn from outputs that are compared)"
                    findings.append(Finding(stage, path, "not compared", derived))
                continue
            committed = committed_files(path)  # git holds it: compare the content itself
            if committed is None:
                findings.append(Finding(stage, path, "stale", f"not committed at {rev}"))
                continue
            produced = produced_files(path)
            if produced == committed:
                findings.append(Finding(stage, path, "identical"))
            elif stage in criteria.exact_stages:
                findings.append(Finding(stage, path, "differs", "must be byte-identical (reproduce.exact_stages)"))
            elif path == criteria.manifest:
                model_rows.append((stage, path, "the model's file hashes"))
            else:
                is_predictions = path == criteria.holdout_predictions
                tolerance = criteria.prediction_tolerance if is_predictions else criteria.tolerance
                status, detail, largest = compare_files(path, produced, committed, tolerance)
                finding = Finding(stage, path, status, detail, largest if math.isfinite(largest) else None)
                if path == criteria.holdout_predictions:
                    predictions = finding
                findings.append(finding)
    identical_predictions = predictions is None and any(
        f.path == criteria.holdout_predictions and f.status == "identical" for f in findings
    )
    for stage, path, note in model_rows:
        head = f"bytes differ ({note}); its outputs on the recorded holdout rows"
        if identical_predictions:
            findings.append(Finding(stage, path, "equivalent", f"{head} are identical"))
        elif predictions is None:
            missing = f"bytes differ ({note}) and {criteria.holdout_predictions} is not committed"
            findings.append(Finding(stage, path, "differs", missing))
        elif predictions.failed:
            findings.append(Finding(stage, path, "differs", f"{head} do not agree", predictions.largest))
        else:
            agree = f"{head} agree (largest difference {predictions.largest:.3g})"
            findings.append(Finding(stage, path, "equivalent", agree, predictions.largest))
    return Reproduction(rev, findings)
