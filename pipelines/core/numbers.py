"""Do two versions of a file agree, number by number? JSON and CSV compared within a tolerance.

Numbers a (produced) and b (committed) agree when |a - b| <= tolerance * max(1, |b|): an absolute
tolerance for values up to 1, a relative one above. Structure (keys, list lengths, CSV headers and
row counts, every non-numeric value) must match exactly. Used by pipelines.core.reproduce.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["identical", "equivalent", "differs", "stale", "not compared"]
Files = dict[str, bytes]
"""The files of one output: {"": content} for a file, {relative path: content} for a directory."""


# --- comparing numbers --------------------------------------------------------------------------


def _excess(produced: float, committed: float) -> float:
    """|a - b| / max(1, |b|): compared with a tolerance, this is the rule in the module docstring."""
    if math.isnan(produced) and math.isnan(committed):
        return 0.0
    if math.isinf(produced) or math.isinf(committed):
        return 0.0 if produced == committed else math.inf
    return abs(produced - committed) / max(1.0, abs(committed))


@dataclass
class _Worst:
    """The largest scaled difference seen so far, where, and the first structural mismatch."""

    value: float = 0.0
    where: str = ""
    mismatch: str = ""

    def number(self, produced: float, committed: float, where: str) -> None:
        """Record the scaled difference of one pair of numbers at `where`."""
        excess = _excess(produced, committed)
        if excess > self.value or (excess == math.inf and not self.where):
            self.value, self.where = excess, f"{where}: {committed!r} -> {produced!r}"

    def structure(self, message: str) -> None:
        """Record the first structural mismatch (keys, lengths, headers, non-numeric values)."""
        self.mismatch = self.mismatch or message


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _walk(produced: Any, committed: Any, where: str, worst: _Worst) -> None:
    if _is_number(produced) and _is_number(committed):
        worst.number(float(produced), float(committed), where or "value")
    elif isinstance(produced, Mapping) and isinstance(committed, Mapping):
        if set(produced) != set(committed):
            added, removed = sorted(set(produced) - set(committed)), sorted(set(committed) - set(produced))
            worst.structure(f"{where or 'top level'}: keys added {added}, removed {removed}")
        for key in sorted(set(produced) & set(committed), key=str):
            _walk(produced[key], committed[key], f"{where}.{key}" if where else str(key), worst)
    elif isinstance(produced, list) and isinstance(committed, list):
        if len(produced) != len(committed):
            worst.structure(f"{where or 'top level'}: {len(committed)} entries -> {len(produced)}")
        for i, (a, b) in enumerate(zip(produced, committed, strict=False)):
            _walk(a, b, f"{where}[{i}]", worst)
    elif produced != committed:
        worst.structure(f"{where or 'value'}: {committed!r} -> {produced!r}")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def compare_content(name: str, produced: bytes, committed: bytes) -> tuple[float, str, str]:
    """Compare two versions of a JSON or CSV file number by number.

    Returns (largest scaled difference, where it is, structural mismatch or ""). Files that are
    neither JSON nor CSV count as a mismatch when their bytes differ.
    """
    worst = _Worst()
    if produced == committed:
        return 0.0, "", ""
    if name.endswith(".json"):
        try:
            _walk(json.loads(produced), json.loads(committed), "", worst)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            worst.structure(f"not readable JSON ({exc})")
    elif name.endswith(".csv"):
        try:
            new, old = _csv_rows(produced), _csv_rows(committed)
        except (csv.Error, UnicodeDecodeError) as exc:
            return 0.0, "", f"not readable CSV ({exc})"
        if not old or not new or new[0] != old[0]:
            worst.structure(f"header {old[0] if old else []} -> {new[0] if new else []}")
        elif len(new) != len(old):
            worst.structure(f"{len(old) - 1} rows -> {len(new) - 1}")
        else:
            header = old[0]
            for r, (row_new, row_old) in enumerate(zip(new[1:], old[1:], strict=True), start=1):
                for c, (a, b) in enumerate(zip(row_new, row_old, strict=False)):
                    x, y = _number(a), _number(b)
                    column = header[c] if c < len(header) else str(c)
                    if x is not None and y is not None:
                        worst.number(x, y, f"row {r} {column}")
                    elif a != b:
                        worst.structure(f"row {r} {column}: {b!r} -> {a!r}")
    else:
        worst.structure("bytes differ and the format has no numeric comparison")
    return worst.value, worst.where, worst.mismatch


def compare_files(path: str, produced: Files, committed: Files, tolerance: float) -> tuple[Status, str, float]:
    """Compare every file of the output at `path`; (status, detail, largest scaled difference)."""
    if produced == committed:
        return "identical", "", 0.0
    if set(produced) != set(committed):
        added, removed = sorted(set(produced) - set(committed)), sorted(set(committed) - set(produced))
        return "differs", f"files added {added}, removed {removed}", math.inf
    largest, where = 0.0, ""
    for name in sorted(produced):
        value, at, mismatch = compare_content(name or path, produced[name], committed[name])
        label = f"{name}: " if name else ""
        if mismatch:
            return "differs", f"{label}{mismatch}", math.inf
        if value > largest:
            largest, where = value, f"{label}{at}"
    if largest > tolerance:
        return "differs", f"largest difference {largest:.3g} > tolerance {tolerance:g} at {where}", largest
    return "equivalent", f"bytes differ, numbers agree (largest difference {largest:.3g} at {where})", largest
