"""The model Corral scores with out of the box, trained from its own catalogue.

Nothing has to be installed or downloaded: the first time triage needs a
model and none is configured, it trains one from the rule files in
``catalogue/`` (a few seconds) and keeps it in the cache directory. When the
user points Corral at the team's own Prometheus rule files
(``triage.scoring.adapt_rule_files``), the model is adapted to them as it is
built (``adapt``). The file name carries a digest of the catalogue, the
team's files, the feature version and the scikit-learn version, so a change
to any of them builds a fresh model instead of loading a stale one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import sklearn
import structlog

from services.triage.scoring import features, store
from services.triage.scoring.rulefiles import read_rules
from services.triage.training import dataset
from services.triage.training.adapt import adapt
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


def default_model_path(directory: Path, adapt_files: Sequence[str | Path] = ()) -> Path:
    digest = hashlib.sha256()
    for path in catalogue_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for team in adapt_files:
        digest.update(b"team\0" + str(team).encode() + b"\0" + Path(team).read_bytes())
    digest.update(f"features={features.VERSION} sklearn={sklearn.__version__}".encode())
    kind = "adapted" if adapt_files else "default"
    return directory / f"severity-{kind}-{digest.hexdigest()[:16]}.skops"


def ensure_default_model(directory: Path, adapt_files: Sequence[str | Path] = ()) -> Path:
    """The default model's path, training it first when it is not there yet.

    With ``adapt_files`` (the team's Prometheus rule files) the model is
    adapted to them. Two workers starting together may both train; each
    writes atomically, so the file is always whole.
    """
    path = default_model_path(directory, adapt_files)
    if not path.exists():
        data = dataset.read(list(catalogue_files()))
        sources = [f"corral catalogue {p.name}" for p in catalogue_files()]
        if adapt_files:
            team = [rule.alert for rule in read_rules(adapt_files)]
            model = adapt(data.examples, team, sources=[*sources, *map(str, adapt_files)])
        else:
            model = train(data.examples, sources=sources)
        store.save(model, path)
        log.info(
            "default severity model built",
            path=str(path),
            rows=model.metadata["training_data"]["rows"],
            adapted_to=[str(p) for p in adapt_files],
        )
    return path
