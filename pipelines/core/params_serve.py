"""params.yaml's `serve:` section (the prediction service, its logs and their retention), and the base every
section model shares. Re-exported by pipelines.core.params, which holds the rest of the schema; read it there.

No defaults (except None for "not set"): every value lives in params.yaml, once.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
Days = Annotated[float, Field(gt=0)]


class Section(BaseModel):
    """A params.yaml section: unknown keys are refused (a typo fails loading with the key named), frozen."""

    # No defaults below (except None for "not set"): every value lives in params.yaml, once, and a
    # missing key is an error naming it rather than a silent fallback to a copy kept here.
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServeLogParams(Section):
    """serve.log: the prediction log's location, sampling, size caps (bytes) and retention (days)."""

    directory: str
    sample_rate: Annotated[float, Field(ge=0.0, le=1.0)]
    max_rows_per_request: PositiveInt
    max_file_bytes: PositiveInt
    max_total_bytes: PositiveInt
    queue_size: PositiveInt
    flush_seconds: Annotated[float, Field(gt=0)]
    # `python -m pipelines retention` deletes a log file once its newest record is older than this
    max_age_days: Days

    def writer_settings(self) -> dict[str, Any]:
        """What the log writer (deploy.jsonlines.LogSettings) takes besides its directory: everything but the
        retention, which the `retention` command applies, not the writer."""
        return self.model_dump(exclude={"directory", "max_age_days"})


class ServeFeedbackParams(Section):
    """serve.feedback: where outcomes sent to /feedback go, how many per request, how old an id may be (days), and
    how long the feedback log is kept (days)."""

    directory: str
    max_items: PositiveInt
    max_age_days: Days  # an older prediction id is refused by /feedback and `feedback import`
    retention_days: Days  # `python -m pipelines retention` deletes a feedback-log file whose newest record is older


class ServeChallengerParams(Section):
    """serve.challenger: a second model scored beside the champion on every request (shadow), and the share
    of requests it answers (an A/B test, chosen by prediction id; 0: shadow only)."""

    directory: str | None = None
    traffic: Annotated[float, Field(ge=0.0, le=1.0)]


class ServeParams(Section):
    """serve: address, body limit (bytes), timeouts and graceful shutdown (seconds), the log, feedback, challenger."""

    host: str
    port: Annotated[int, Field(ge=0, le=65535)]
    max_body_bytes: PositiveInt
    request_timeout_seconds: Annotated[float, Field(gt=0)]
    inline_max_rows: PositiveInt
    graceful_shutdown_seconds: Annotated[float, Field(ge=0)]
    log: ServeLogParams
    feedback: ServeFeedbackParams
    challenger: ServeChallengerParams

    @model_validator(mode="after")
    def _outcomes_within_the_log(self) -> ServeParams:
        # an outcome for a prediction the log no longer holds can never be joined: refusing its id is honest
        if self.feedback.max_age_days > self.log.max_age_days:
            raise ValueError(
                f"feedback.max_age_days ({self.feedback.max_age_days:g}) exceeds log.max_age_days "
                f"({self.log.max_age_days:g}): /feedback would accept outcomes for predictions the retention "
                "has deleted; lower the first or raise the second"
            )
        return self
