"""The model Corral scores with out of the box, trained from its own catalogue.

Nothing has to be installed or downloaded: the first time triage needs a
model and none is configured, it trains one from the rule files in
``catalogue/`` (a few seconds) and keeps it in the cache directory. The file
name carries a digest of the catalogue, the feature version and the
scikit-learn version, so an upgrade of any of them builds a fresh model
instead of loading a stale one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import sklearn
import structlog

from services.triage.scoring import features, store
from services.triage.training import dataset
from services.triage.training.train import train

log = structlog.get_logger(__name__)

CATALOGUE = Path(__file__).parent / "catalogue"


def catalogue_files() -> list[Path]:
    return sorted(CATALOGUE.glob("*.yml"))


def cache_dir(configured: str | None = None) -> Path:
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "corral"


def default_model_path(directory: Path) -> Path:
    digest = hashlib.sha256()
    for path in catalogue_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    digest.update(f"features={features.VERSION} sklearn={sklearn.__version__}".encode())
    return directory / f"severity-default-{digest.hexdigest()[:16]}.skops"


def ensure_default_model(directory: Path) -> Path:
    """The default model's path, training it first when it is not there yet.

    Two workers starting together may both train; each writes atomically, so
    the file is always whole.
    """
    path = default_model_path(directory)
    if not path.exists():
        data = dataset.read(list(catalogue_files()))
        model = train(
            data.examples, sources=[f"corral catalogue {p.name}" for p in catalogue_files()]
        )
        store.save(model, path)
        log.info("default severity model built", path=str(path), rows=len(data.examples))
    return path
