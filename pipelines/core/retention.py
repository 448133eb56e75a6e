"""Retention of the service's logs (the prediction log, the feedback log): which whole files to delete. Pure: a
file's name, its records' times and the cut-off in, a decision out; `python -m pipelines retention`
(pipelines.jobs.retention) reads the files and deletes.

A file goes when its newest record is older than the cut-off: the records say when their data was written,
whatever the file's name or modification time say (a file copied, restored or re-uploaded keeps its records'
times and gets a new mtime; a writer's clock in a name proves nothing about what was appended later). Only a file
with no readable record time falls back on the stamp in its name (deploy/jsonlines.py names files
`<prefix>-YYYYmmddTHHMMSS-...jsonl`, in UTC); with neither it is kept, and said to be, never guessed.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

STAMP = re.compile(r"-(\d{8}T\d{6})-")
DAY = 86400.0


def name_stamp(name: str) -> float | None:
    """The UTC time (epoch seconds) in a log file's name, `...-20260101T120000-...`; None when it has none."""
    found = STAMP.search(name.rsplit("/", 1)[-1])
    if found is None:
        return None
    try:
        return float(calendar.timegm(time.strptime(found.group(1), "%Y%m%dT%H%M%S")))
    except ValueError:  # 20261399T... matches the pattern and is no date
        return None


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


@dataclass(frozen=True)
class Decision:
    """What happens to one file: `delete` or keep, and why (one line, naming the time it was judged by)."""

    path: str
    delete: bool
    reason: str


def decide(path: str, times: Iterable[float], cutoff: float, now: float) -> Decision:
    """Delete `path` when every record time in `times` (epoch seconds, any order) is before `cutoff`; keep it at
    the first record at or after it (`times` is read lazily, so a file in the window costs one record). A file
    without a record time is judged by its name's stamp (`name_stamp`), and kept when it has none."""
    newest = None
    for ts in times:
        if ts >= cutoff:
            return Decision(path, False, f"a record from {_when(ts)} is within the retention")
        newest = ts if newest is None else max(newest, ts)
    if newest is not None:
        return Decision(path, True, f"newest record {_when(newest)}, {(now - newest) / DAY:.1f} days old")
    stamp = name_stamp(path)
    if stamp is None:
        return Decision(path, False, "no record time and no time in its name: kept, check it by hand")
    if stamp >= cutoff:
        return Decision(path, False, f"no record time; named {_when(stamp)}, within the retention")
    return Decision(path, True, f"no record time; named {_when(stamp)}, {(now - stamp) / DAY:.1f} days old")
