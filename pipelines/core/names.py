"""How messages name things: column names (shortened, quoted when not a plain word) and a column's allowed
values (named, not counted). The service's messages never echo a request's values."""

from __future__ import annotations

import re
from typing import Any

MAX_NAME = 40  # field names from a request are truncated in messages
MAX_NAMED_VALUES = 12  # a longer list of allowed values is cut, with its count


def printable(text: str) -> str:
    """`text` as any UTF-8 writer can take it: a lone surrogate (not Unicode text) becomes its escape `\\ud800`,
    and NUL and other control characters their escapes; emoji and other characters stay as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def _name(value: Any) -> str:
    """A name from a request, cut to MAX_NAME characters (quote it with `shown`)."""
    text = str(value)
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 3] + "..."


def shown(name: str) -> str:
    """A column name as messages show it: as is when it is a plain word, else quoted (`"alcohol %"`), with
    characters no writer can take escaped (`printable`)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        return name
    return _quoted(name)


def _quoted(text: str) -> str:
    return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'  # as a JSON string writes it


def one_of(values: frozenset[Any]) -> str:
    """Allowed values as messages name them, sorted: `"basic", "enterprise", "pro"` (numbers as numbers);
    past MAX_NAMED_VALUES the first ones and the count."""
    ordered = sorted(values, key=lambda v: (not isinstance(v, str), str(v) if isinstance(v, str) else float(v)))
    named = [_quoted(v) if isinstance(v, str) else f"{v:g}" for v in ordered]
    if len(named) > MAX_NAMED_VALUES:
        return ", ".join(named[:MAX_NAMED_VALUES]) + f", ... ({len(named)} in all)"
    return ", ".join(named)
