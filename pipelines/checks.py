"""`python3 -m pipelines.checks`: the one required check, passing only when every job it waits for passed.

Branch protection requires one check name (`ml-gate`, .github/protection.yml); the workflow's final
job `needs:` the real jobs (the pipeline gate and the test suite) and runs this with their results in
$NEEDS (`${{ toJSON(needs) }}`). Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any


def verdict(needs: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """(all passed, one line per job) from GitHub's `needs` context: {job: {"result": ...}}.

    A job passes only with result "success"; "failure", "cancelled" and "skipped" fail the check (a
    skipped test suite is not a passed one). An empty context fails: the check would guard nothing.
    """
    lines = [f"{job}: {(info or {}).get('result', 'unknown')}" for job, info in sorted(needs.items())]
    passed = bool(needs) and all((info or {}).get("result") == "success" for info in needs.values())
    return passed, lines


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every job in $NEEDS succeeded, else 1; one line per job on stderr."""
    try:
        needs = json.loads(os.environ.get("NEEDS") or "{}")
    except json.JSONDecodeError as exc:
        print(f"error: NEEDS is not JSON ({exc})", file=sys.stderr)
        return 1
    if not isinstance(needs, dict):
        print("error: NEEDS must be a JSON object of jobs", file=sys.stderr)
        return 1
    passed, lines = verdict(needs)
    for line in lines:
        print(f"[checks] {line}", file=sys.stderr)
    print(f"[checks] {'passed' if passed else 'FAILED'}: {', '.join(sorted(needs)) or 'no jobs'}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
