"""The one markdown helper: tables whose cells are escaped, and Mermaid chart labels that stay quoted.

Column names, labels and values come from the user's data, so any of them may hold `|` (which
would split a table cell), a newline, or a double quote (which would end a Mermaid label).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipelines.core.names import printable


def cell(value: Any) -> str:
    """Text safe inside a table cell: `|` escaped, line breaks flattened, what UTF-8 cannot hold escaped."""
    flat = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    return printable(flat)


def code(value: Any) -> str:
    """Inline code for a name (backticks inside are replaced, so the span cannot end early)."""
    return f"`{printable(str(value).replace('`', chr(39)))}`"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; every cell goes through `cell`."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def label(value: Any) -> str:
    """A double-quoted Mermaid label (inner double quotes become single ones)."""
    return '"' + printable(str(value).replace('"', "'").replace("\n", " ")) + '"'


def interval_bar(low: float, high: float, span: float, width: int = 17) -> str:
    """A text bar of an interval of a difference on [-span, +span]: `━` inside it, `┼` at zero, `·` outside."""
    cells = []
    for i in range(width):
        x = -span + (i + 0.5) * (2 * span / width)
        half = span / width
        if abs(x) <= half:
            cells.append("┼" if low - half <= 0 <= high + half else "│")
        elif low - half <= x <= high + half:
            cells.append("━")
        else:
            cells.append("·")
    return "`" + "".join(cells) + "`"


def number(value: float, sign: bool = False) -> str:
    """A metric as reports write it: 4 decimals (`0.9512`), or 6 significant digits from 10,000 on (an error in
    the target's units: `3.84373e+09`, not `3843733346.9909`)."""
    plus = "+" if sign else ""
    return f"{value:{plus}.4f}" if abs(value) < 1e4 else f"{value:{plus}.6g}"


def with_interval(value: float, entry: Mapping[str, Any] | None) -> str:
    """A value with its interval, `0.9512 [0.9000, 0.9882]`, or the value alone when it has none."""
    if not entry or entry.get("low") is None or entry.get("high") is None:
        return number(value)
    return f"{number(value)} [{number(entry['low'])}, {number(entry['high'])}]"


def difference(entry: Mapping[str, float] | None, span: float, lower_is_better: bool) -> str:
    """The paired difference, its interval and bar, and what it says (better, worse, or no detectable change)."""
    if not entry:
        return ""
    low, high = entry["low"], entry["high"]
    if low <= 0 <= high:
        said = "no detectable difference"
    else:
        better = (high < 0) if lower_is_better else (low > 0)
        said = "better" if better else "worse"
    shown = f"{number(entry['difference'], True)} [{number(low, True)}, {number(high, True)}]"
    return f"{shown} {interval_bar(low, high, span)} {said}"
