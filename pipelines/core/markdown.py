"""The one markdown helper: tables whose cells are escaped, and Mermaid chart labels that stay quoted.

Column names, labels and values come from the user's data, so any of them may hold `|` (which
would split a table cell), a newline, or a double quote (which would end a Mermaid label).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any) -> str:
    """Text safe inside a table cell: `|` escaped, line breaks flattened."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def code(value: Any) -> str:
    """Inline code for a name (backticks inside are replaced, so the span cannot end early)."""
    return f"`{str(value).replace('`', chr(39))}`"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table; every cell goes through `cell`."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def label(value: Any) -> str:
    """A double-quoted Mermaid label (inner double quotes become single ones)."""
    return '"' + str(value).replace('"', "'").replace("\n", " ") + '"'
