"""The model the triage worker scores with: loaded off the event loop, reloaded on change.

The model file is checked every ``reload_interval``; when its size, mtime or
inode changed, the new file is loaded in a thread and swapped in. A file that
fails to load leaves the previous model in place (and is logged and counted),
so a bad deploy of a model never stops triage. Without any usable model,
scoring goes on with rules and labels alone.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import structlog

from services.triage.metrics import CLASSIFIER_MODEL_LOADS
from services.triage.scoring import store
from services.triage.scoring.classifier import SeverityModel
from services.triage.scoring.features import AlertText
from services.triage.scoring.rulefiles import DatasetError
from services.triage.training.default_model import cache_dir, ensure_default_model

log = structlog.get_logger(__name__)

FileStamp = tuple[int, int, int]


def _stamp(path: Path) -> FileStamp:
    info = os.stat(path)
    return (info.st_ino, info.st_size, info.st_mtime_ns)


def warm_up(model: SeverityModel) -> None:
    """One prediction, with its explanation, before the model is swapped in.

    A model's first prediction pays for what scikit-learn, numpy and the
    explainer set up lazily, several times a later one; done here, in the
    loading thread, it is not paid by the first incident after a start or a
    reload. A model that cannot predict is refused like a file that cannot be
    read, rather than failing every incident it scores."""
    try:
        model.predict([AlertText(alertname="CorralWarmUp")])
    except Exception as exc:  # a loaded pipeline may raise anything
        raise store.ModelError(f"the model cannot predict: {exc!r}") from exc


class ModelHolder:
    def __init__(
        self,
        path: str | None,
        model_cache_dir: str | None,
        reload_interval: timedelta,
        adapt_files: Sequence[str] = (),
    ) -> None:
        self.configured = Path(path) if path else None
        self.adapt_files = list(adapt_files)
        self.cache_dir = cache_dir(model_cache_dir)
        self.interval = reload_interval.total_seconds()
        self.model: SeverityModel | None = None
        self.path: Path | None = None
        self.problem: str | None = None
        # Bumped on every swap, so verdicts of an older model can be told apart.
        self.generation = 0
        self._stamp: FileStamp | None = None
        self._default: Path | None = None
        self._next_check = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> SeverityModel | None:
        if time.monotonic() >= self._next_check:
            async with self._lock:
                if time.monotonic() >= self._next_check:
                    await asyncio.to_thread(self.refresh)
                    self._next_check = time.monotonic() + self.interval
        return self.model

    def refresh(self) -> None:
        """Load the model file if it is new or changed (blocking: run in a thread)."""
        try:
            path = self.configured or self._default_model()
            stamp = _stamp(path)
            if stamp == self._stamp and path == self.path:
                return
            model = store.load(path)
            warm_up(model)
        except (OSError, store.ModelError, ValueError, DatasetError) as exc:
            self._failed(str(exc))
            return
        self.model, self.path, self._stamp = model, path, stamp
        self.problem = None
        self.generation += 1
        CLASSIFIER_MODEL_LOADS.labels("loaded").inc()
        log.info(
            "severity model loaded",
            path=str(path),
            created=model.metadata.get("created"),
            rows=model.metadata.get("training_data", {}).get("rows"),
        )

    def _default_model(self) -> Path:
        if self._default is None or not self._default.exists():
            self._default = ensure_default_model(self.cache_dir, self.adapt_files)
        return self._default

    def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.error(
                "severity model not loaded", problem=problem, keeping_previous=bool(self.model)
            )
        self.problem = problem
        CLASSIFIER_MODEL_LOADS.labels("failed").inc()
