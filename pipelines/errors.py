"""The base of every failure the CLI reports as one clear line (exit 1) instead of a traceback."""


class PipelineError(Exception):
    """A known, explained failure: bad input, bad params, refused data or model, a failed call."""
