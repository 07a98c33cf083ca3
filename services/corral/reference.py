"""The configuration reference in ``docs/configuration.md``, generated from the models.

The models are what a worker validates, so a reference written from them
cannot drift from what Corral accepts: a field added, renamed or given a new
default shows up here, and a test fails until the document is regenerated
(``make docs``).
"""

from __future__ import annotations

import argparse
import enum
import json
import types
import typing
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shared.durations import format_duration

BEGIN = "<!-- begin generated: make docs -->"
END = "<!-- end generated -->"


def _models_in(annotation: object) -> list[type[BaseModel]]:
    """The config models a field holds, directly, in a list or a mapping, or optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(m for m in _models_in(arg) if m not in found)
    return found


def _is_list(annotation: object) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, Sequence):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " \\| ".join(names)
    if origin in (list, tuple, Sequence):
        args = typing.get_args(annotation)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        key, value = typing.get_args(annotation)
        return f"map of {_type_name(key)} to {_type_name(value)}"
    if annotation is timedelta:
        return "duration"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "section"
        if issubclass(annotation, enum.Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, str) and field.validate_default and field.annotation is not str:
        return f"`{value}`"  # a duration or URL written as text, shown as written
    return _shown(value)


def _shown(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, BaseModel):
        return "see below" if type(value).model_fields else "`{}`"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str) and not value:
        return '`""`'
    if isinstance(value, list | tuple):
        return f"`{json.dumps([_plain(v) for v in value])}`" if value else "`[]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


def _plain(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _describe(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    text = field.description
    if not text:
        annotation = field.annotation
        nested = _models_in(annotation)
        if nested and nested[0].__doc__:
            text = nested[0].__doc__
    if not text and name.endswith("_file"):
        # Every secret has a file twin (shared/secrets.py); one sentence for all of them.
        twin = name.removesuffix("_file")
        inline = f"`{twin}`" if twin in model.model_fields else "the secret"
        text = (
            f"File holding {inline} (a mounted Secret), read at start and again "
            "whenever it changes; keeps the secret out of the config."
        )
    return " ".join((text or "").split()).replace("|", "\\|")


def rows(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) for every field, depth first.

    A model that contains itself (a route's ``routes``) is described once.
    """
    yield from _rows(model, prefix, ())


def _rows(
    model: type[BaseModel], prefix: str, seen: tuple[type[BaseModel], ...]
) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        nested = _models_in(annotation)
        description = _describe(model, name, field)
        recursive = [m for m in nested if m in (*seen, model)]
        if recursive:
            description = (description + " " if description else "") + (
                f"Each has the fields of `{prefix.rstrip('.') or 'the parent'}`."
            )
        yield key, _type_name(annotation), _default(field), description
        for child in nested:
            if child in (*seen, model):
                continue
            child_prefix = f"{key}[]." if _is_list(annotation) else f"{key}."
            yield from _rows(child, child_prefix, (*seen, model))


def render(model: type[BaseModel]) -> str:
    lines = [
        BEGIN,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for key, kind, default, description in rows(model):
        lines.append(f"| `{key}` | {kind} | {default} | {description} |")
    lines += ["", END]
    return "\n".join(lines)


def splice(document: str, generated: str) -> str:
    """The document with its generated section replaced (or appended)."""
    if BEGIN in document and END in document:
        head, _, rest = document.partition(BEGIN)
        _, _, tail = rest.partition(END)
        return head + generated + tail
    return document.rstrip("\n") + "\n\n" + generated + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from services.corral.config import CorralConfig

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", metavar="PATH", help="update the generated section of PATH")
    args = parser.parse_args(argv)
    generated = render(CorralConfig)
    if args.write:
        path = Path(args.write)
        path.write_text(splice(path.read_text(), generated))
    else:
        print(generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
