"""Model files: the pipeline saved with skops (no pickle) plus JSON metadata.

A model file is skops' zip archive with one more member, ``corral.json``,
holding what the model was trained on, its metrics and library versions.
Loading refuses any type outside a short allow-list, so a model file from
elsewhere cannot run code in the triage worker.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import skops.io

from services.triage.scoring import features
from services.triage.scoring.classifier import SeverityModel

METADATA_MEMBER = "corral.json"
FORMAT = 1
# Types skops does not trust by default that Corral's own pipeline contains.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._TemperatureScaling",
    }
)


class ModelError(Exception):
    """A model file that cannot be used; the message says why."""


def save(model: SeverityModel, path: str | Path) -> None:
    """Write atomically: a reloading worker sees the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, **model.metadata}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        skops.io.dump(model.pipeline, temporary)
        with zipfile.ZipFile(temporary, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(metadata, indent=2, sort_keys=True))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_metadata(path: str | Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as archive:
            metadata: dict[str, Any] = json.loads(archive.read(METADATA_MEMBER))
    except KeyError:
        raise ModelError(f"{path}: not a Corral model (no {METADATA_MEMBER})") from None
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ModelError(f"{path}: cannot read model file: {exc}") from None
    return metadata


def load(path: str | Path) -> SeverityModel:
    metadata = read_metadata(path)
    if metadata.get("format") != FORMAT:
        raise ModelError(f"{path}: model format {metadata.get('format')!r}, expected {FORMAT}")
    version = metadata.get("features", {}).get("version")
    if version != features.VERSION:
        raise ModelError(
            f"{path}: trained on feature version {version}, this Corral extracts version "
            f"{features.VERSION}; train the model again with `corral train`"
        )
    try:
        untrusted = set(skops.io.get_untrusted_types(file=path))
        unknown = untrusted - TRUSTED_TYPES
        if unknown:
            raise ModelError(f"{path}: refusing to load untrusted types {sorted(unknown)}")
        pipeline = skops.io.load(path, trusted=sorted(untrusted))
    except ModelError:
        raise
    except Exception as exc:  # skops raises many kinds for a damaged archive
        raise ModelError(f"{path}: cannot load model: {type(exc).__name__}: {exc}") from None
    return SeverityModel(pipeline, metadata)
