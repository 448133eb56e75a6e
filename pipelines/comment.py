"""`python3 -m pipelines.comment`: post a pull-request report artifact as ONE comment.

The trusted side of the pull-request loop (.github/workflows/pull-request-comment.yml, on
`workflow_run`): it runs on the runner's own Python with nothing installed and never executes
pull-request code, so this module and everything it imports use the standard library only. The
artifact is data: pipelines.adapters.github.post_report validates it (sizes, the PR number matched
against the run's head commit) and sanitises it before CML sees it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Validate the artifact and post or update the report comment; exit 1 with one line on failure."""
    from pipelines.adapters.github import CmlCommenter, GhCli, post_report
    from pipelines.errors import PipelineError

    parser = argparse.ArgumentParser(prog="python3 -m pipelines.comment", description=main.__doc__)
    parser.add_argument("--artifact", required=True, help="directory holding report.md and pr.json")
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="owner/name")
    parser.add_argument("--head-sha", required=True, help="head commit of the run that made the artifact (trusted)")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as work:
            number = post_report(
                Path(args.artifact),
                repo=args.repo,
                head_sha=args.head_sha,
                github=GhCli(),
                commenter=CmlCommenter(),
                workdir=Path(work),
            )
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[comment] posted the report on pull request #{number}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
