"""The service's JSON-lines logs (predictions, and outcomes from /feedback): sampled, size-capped, and never
in the request's way.

Requests hand log lines to a bounded queue (`offer` never blocks: when the queue is full the line
is dropped and counted); one background thread writes them as JSON lines into rotating files and
deletes the oldest files when the directory would exceed its cap. The sink is a local directory,
or any fsspec URL (s3://, gs://, memory://...): object stores cannot append, so there each file is
buffered and written whole when it rotates or the log closes. Expiry by age is `python -m pipelines retention`.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson


@dataclass(frozen=True)
class LogSettings:
    """From `serve.log` in params.yaml (no defaults here: the values live there once)."""

    directory: Path | str  # a local directory or an fsspec URL
    sample_rate: float
    max_rows_per_request: int
    max_file_bytes: int
    max_total_bytes: int | None  # None: never delete (the feedback log: outcomes are scarce)
    queue_size: int
    flush_seconds: float  # an object-store file is written out (and a new one started) at least this often
    writer: str = ""  # who writes (the pod name): file names carry it, so replicas never write the same file


@dataclass(frozen=True)
class PredictionLogEntry:
    """One answered request as the prediction log keeps it (one JSON line): the input `columns` and `rows` (never a
    personal input: deploy.payload.InputSpec.loggable), the
    champion's `predictions` (labels, or values) and `probabilities` (rows x `classes`, None for regression),
    its `model_version` and `model_hash`, the rows' prediction `ids` and the `request_id` (what outcomes are
    later joined to), whether the champion `answered`, and the `challenger`'s output on the same rows
    ({model_version, model_hash, predictions, probabilities, answered}; its classes are the champion's), so the
    inputs are written once."""

    columns: Sequence[str]
    rows: list[list[Any]]
    predictions: Sequence[Any] | np.ndarray
    probabilities: np.ndarray | None
    model_version: str
    ids: Sequence[str] | None = None
    model_hash: str | None = None
    classes: Sequence[Any] | None = None
    request_id: str | None = None
    answered: bool = True
    challenger: dict[str, Any] | None = None

    def to_json(self, max_rows: int, ts: float) -> dict[str, Any]:
        """The JSON-ready line, the first `max_rows` rows kept (`truncated` says whether there were more)."""
        n = max_rows
        line = {
            "ts": ts,
            "model_version": self.model_version,
            "model_hash": self.model_hash,
            "request_id": self.request_id,
            "columns": list(self.columns),
            "rows": self.rows[:n],
            "ids": None if self.ids is None else list(self.ids[:n]),
            "predictions": self.predictions[:n],
            "probabilities": None if self.probabilities is None else self.probabilities[:n],
            "classes": None if self.classes is None else list(self.classes),
            "truncated": len(self.rows) > n,  # the monitor names the cause of outcomes for the later ids
            "answered": self.answered,
        }
        if self.challenger is not None:
            shadow = self.challenger
            line["challenger"] = {
                **shadow,
                "predictions": shadow["predictions"][:n],
                "probabilities": None if shadow["probabilities"] is None else shadow["probabilities"][:n],
            }
        return line


class JsonLinesLog:
    """A sampled, size-capped, non-blocking JSON-lines log (the prediction log, and the feedback log with
    prefix "feedback"): lines go to a bounded queue and a writer thread."""

    def __init__(self, settings: LogSettings, seed: int | None = None, prefix: str = "predictions"):
        self.settings, self.prefix = settings, prefix
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | list[dict[str, Any]] | None] = queue.Queue(settings.queue_size)
        self._random = random.Random(seed)
        self._thread: threading.Thread | None = None
        self._file: Any = None
        self._written = 0
        self._sequence = 0

    @property
    def remote(self) -> bool:
        """Whether the log directory is a remote (fsspec) URL rather than a local path."""
        return "://" in str(self.settings.directory)

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if not self.remote:
            Path(self.settings.directory).mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def offer(self, entry: PredictionLogEntry, sampled: bool | None = None) -> None:
        """Queue one answered request's entry, if sampled (`sampled`: already decided by `sample()`), its rows
        capped at serve.log.max_rows_per_request; returns at once."""
        if not (self.sample() if sampled is None else sampled):
            return
        self.offer_line(entry.to_json(self.settings.max_rows_per_request, time.time()))

    def sample(self) -> bool:
        """Whether to log the next request (serve.log.sample_rate)."""
        return self.settings.sample_rate >= 1.0 or self._random.random() < self.settings.sample_rate

    def offer_line(self, line: dict[str, Any]) -> None:
        """Queue any JSON-ready line (a feedback outcome, say), unsampled; returns at once."""
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def offer_batch(self, lines: list[dict[str, Any]]) -> bool:
        """Queue `lines` as one item, all or none; False (nothing queued, nothing counted) when the queue is
        full, so the caller can ask its client to retry."""
        try:
            self._queue.put_nowait(lines)
        except queue.Full:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        deadline = time.monotonic() + self.settings.flush_seconds
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:  # the flush interval passed with nothing new
                self._flush()
                deadline = time.monotonic() + self.settings.flush_seconds
                continue
            if item is None:
                break
            if time.monotonic() >= deadline:
                self._flush()
                deadline = time.monotonic() + self.settings.flush_seconds
            for one in item if isinstance(item, list) else [item]:
                try:
                    self._write(orjson.dumps(one, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
                except (OSError, TypeError, ValueError):  # unwritable, or a value JSON cannot hold: count it
                    self.dropped += 1
        self._finish_file()

    def _flush(self) -> None:
        """Make what was written durable: an object-store file is written whole (the next line starts a new
        one, as objects cannot be appended to); a local file is written unbuffered already."""
        if self.remote and self._file is not None and self._file[1]:
            try:
                self._finish_file()
            except OSError:
                self.dropped += 1
                self._file = None

    def _name(self) -> str:
        self._sequence += 1
        writer = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.settings.writer)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return f"{self.prefix}-{stamp}-{writer + '-' if writer else ''}{self._sequence:06d}.jsonl"

    def _finish_file(self) -> None:
        if self._file is None:
            return
        if self.remote:
            import fsspec

            url, buffer = self._file
            if buffer:
                with fsspec.open(url, "wb") as out:
                    out.write(bytes(buffer))
        else:
            self._file.close()
        self._file = None

    def _write(self, item: bytes) -> None:
        if self._file is None or self._written + len(item) > self.settings.max_file_bytes:
            self._finish_file()
            if self.remote:
                self._file = (f"{str(self.settings.directory).rstrip('/')}/{self._name()}", bytearray())
            else:
                self._enforce_cap(len(item))
                self._file = (Path(self.settings.directory) / self._name()).open("ab", buffering=0)
            self._written = 0
        if self.remote:
            self._file[1].extend(item)
        else:
            self._file.write(item)
        self._written += len(item)

    def _enforce_cap(self, incoming: int) -> None:
        if self.settings.max_total_bytes is None:
            return
        files = sorted(Path(self.settings.directory).glob(f"{self.prefix}-*.jsonl"))
        total = sum(f.stat().st_size for f in files)
        while files and total + incoming > self.settings.max_total_bytes:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink()
