"""Live performance: the prediction log joined with the outcomes that came back, scored, for `monitor` (its
report section and verdict), `ingest` (labelled rows as a batch) and `promotion-gate` (the candidate against
the champion on live outcomes). Registers no command; the command modules that need it import it."""

from __future__ import annotations

import time
from typing import Any

from pipelines.adapters import git
from pipelines.adapters.params import load_contract, load_paths
from pipelines.commands import say
from pipelines.core.feedback import (
    UNMATCHED_CAUSES,
    compare_models,
    join,
    offline_vs_live,
    performance,
    unmatched_causes,
)
from pipelines.core.params import Params, feedback_location
from pipelines.core.tasks import task_spec


def live_performance(
    params: Params, logged: dict[str, Any], outcome_files: list[str], since: float | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per model in `logged` (pipelines.adapters.sources.scan_logs), its live performance on the predictions that
    have an outcome in `outcome_files` (pipelines.core.feedback.performance), each with `unmatched`: outcomes
    whose prediction is not in the window; and, when a challenger was scored beside the champion, the two
    compared on the same labelled rows (pipelines.core.feedback.compare_models). ([], None) when no outcome has
    come back."""
    from pipelines.adapters import sources
    from pipelines.core.outcomes import latest_outcomes

    if not outcome_files:
        return [], None
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, since))
    say("monitor", f"joining {sum(len(m.ids) for m in logged.values()):,} logged predictions with "
                   f"{len(outcomes):,} outcomes")  # fmt: skip
    by_model, unmatched = join(logged, outcomes)
    causes = unmatched_causes(logged, outcomes, since) if unmatched else {}
    if causes:
        say("monitor", f"{unmatched:,} outcome(s) found no prediction: "
                       + "; ".join(f"{n:,} {UNMATCHED_CAUSES[c]}" for c, n in causes.items()))  # fmt: skip
    task, settings = load_contract().task, params.evaluate.intervals
    ordered = sorted(by_model.values(), key=lambda j: (j.role != "champion", -j.predictions, j.model_hash))
    found = []
    for joined in ordered:
        entry = performance(
            joined, task, params.evaluate.threshold, settings, params.gate.floors, params.monitor.min_labelled_rows
        )
        found.append({**entry, "unmatched": unmatched, "unmatched_causes": causes})
    champion = next((j for j in ordered if j.role == "champion"), None)
    challenger = next((j for j in ordered if j.role == "challenger"), None)
    comparison = None
    if champion is not None and challenger is not None:
        comparison = compare_models(
            champion, challenger, task, params.evaluate.threshold, settings, params.monitor.min_labelled_rows
        )
    return found, comparison


def _window(
    params: Params, logs: str, outcomes_at: str, since: float | None, inputs: bool
) -> tuple[dict[str, Any], list[str]]:
    """The logged predictions (per model) and the feedback-log files, for a job that reads no drift frame;
    no predictions are read when no outcome has come back."""
    from pipelines.adapters import sources

    outcome_files = sources.list_logs(outcomes_at, "feedback")
    if not outcome_files:
        return {}, []
    return sources.read_predictions(sources.list_logs(logs), since, inputs=inputs), outcome_files


def live_section(
    params: Params, logged: dict[str, Any], outcome_files: list[str], since: float, verdict: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Score the window's predictions (`logged`, read with the drift frame) against the outcomes in
    `outcome_files`; adds `live` (and `comparison`, champion vs challenger) to `verdict`, and any broken floor of
    the champion to its `below_floors`; returns both for reports/monitor.md (pipelines.core.monitor_report;
    empty when no outcome has come back)."""
    live, comparison = live_performance(params, logged, outcome_files, since)
    if not live:
        return [], None
    verdict["live"] = live
    broken = [r for e in live if e["role"] == "champion" for r in e["below_floors"]]
    verdict["below_floors"] = [*verdict.get("below_floors", []), *broken]
    for entry in live:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in entry["metrics"].items())
        say("monitor", f"live {entry['role']} {entry['model_hash'][:12]}: {entry['labelled']} of "
                       f"{entry['predictions']} predictions labelled; {shown or 'no metrics yet'}")  # fmt: skip
    if comparison is not None:
        verdict["comparison"] = comparison
        sides = {v: [m for m, w in comparison["verdict"].items() if w == v] for v in ("better", "worse")}
        say("monitor", f"challenger {comparison['challenger'][:12]} vs champion on {comparison['rows']} rows: "
                       f"better on {', '.join(sides['better']) or 'no metric'}; "
                       f"worse on {', '.join(sides['worse']) or 'no metric'}")  # fmt: skip
    return live, comparison


def promotion_section(params: Params, candidate: str, champion: str | None) -> str:
    """For the promotion pull request: the candidate (`candidate`, its model hash) against the champion on live
    outcomes, when the candidate ran as the environment's challenger within monitor.window_hours (read from
    monitor.logs / serve.log.directory and the feedback log); "" otherwise, or when the logs cannot be read."""
    from pipelines.core.monitor_report import champion_vs_challenger, offline_live_table

    logs = params.monitor.logs or params.serve.log.directory
    since = time.time() - params.monitor.window_hours * 3600
    try:
        live, comparison = live_performance(params, *_window(params, logs, feedback_location(params), since, False),
                                            since)  # fmt: skip
    except Exception as exc:  # an unreachable log (no credentials, say) is not a reason to hold a promotion
        say("promotion-gate", f"no live comparison: the logs at {logs} could not be read ({type(exc).__name__})")
        return ""
    # the champion's holdout metrics beside its live ones: how far the offline proxy can be trusted here
    offline = offline_live_table([f for f in offline_against_live(params, live) if f["model_hash"] == champion])
    if comparison is None or comparison["challenger"] != candidate:
        return offline
    if champion is not None and comparison["champion"] != champion:
        return offline
    return champion_vs_challenger(comparison, load_contract().task, params.monitor.min_labelled_rows) + offline


def labelled_batch(params: Params, data_dir: Any) -> list[Any]:
    """For `ingest` (ingest.feedback: true): the predictions in the log (monitor.logs, else serve.log.directory)
    that have an outcome and are not in the data yet, as one batch with the outcome as the target column
    (pipelines.adapters.sources.from_feedback); validated, quarantined or appended like any other batch.

    IngestError, before anything is read, naming each column of the contract's labelled rows that the log cannot
    give back: a personal input (scored, never logged: docs/OPERATIONS.md, Privacy) or a column that is not a
    model input (never logged either). Such rows could only be quarantined."""
    from pipelines.adapters import sources
    from pipelines.core.outcomes import latest_outcomes

    contract = load_contract()
    others = [str(n) for n, c in contract.raw.columns.items()
              if n not in contract.features and n != contract.target and c.required]  # fmt: skip
    missing = [f"{n} (personal)" for n in contract.personal_inputs] + [f"{n} (not a model input)" for n in others]
    if missing:
        raise sources.IngestError(
            f"ingest.feedback cannot rebuild labelled rows: the prediction log does not keep {', '.join(missing)}. "
            "Set ingest.feedback: false and bring the labelled rows through ingest.source or ingest.sql_*, joined "
            "with these columns in your own system (docs/OPERATIONS.md, Privacy)"
        )
    logs, outcomes_at = params.monitor.logs or params.serve.log.directory, feedback_location(params)
    logged, outcome_files = _window(params, logs, outcomes_at, None, True)
    if not outcome_files:
        say("ingest", f"no outcomes at {outcomes_at} yet")
        return []
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, None))
    batches = sources.from_feedback(logged, outcomes, contract.target, data_dir, outcomes_at)
    say("ingest", f"{len(batches[0].frame) if batches else 0} new labelled live row(s) from {logs} and {outcomes_at}")
    return batches


def offline_against_live(params: Params, live: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per environment whose running release (its branch: origin/<env> after a fetch-depth 0 checkout) has live
    metrics in `live` (`live_performance`'s entries, by model hash): {"env", "model_hash", "rows"}, the rows of
    pipelines.core.feedback.offline_vs_live against the release's committed holdout metrics and intervals."""
    from pipelines.adapters import releases

    by_hash = {e["model_hash"]: e for e in live if e.get("metrics")}
    metrics, path = task_spec(load_contract().task).metrics, load_paths()["intervals"]
    found = []
    for env in params.environments.order:
        try:
            release = releases.current(env.name)
        except releases.RegistryError:
            continue
        if release is None or release.model_hash not in by_hash:
            continue
        bands = git.show_json(release.commit, path, strict=False)
        rows = offline_vs_live(release.metrics, (bands or {}).get("metrics", bands), by_hash[release.model_hash],
                               metrics)  # fmt: skip
        if rows:
            found.append({"env": env.name, "model_hash": release.model_hash, "rows": rows})
    return found
