"""The Jinja2 templates of the review and the board, beside this module.

HTML templates (``*.html.j2``) are autoescaped: every title, label and note
comes from alerts or people and is shown as text, never read as markup.
Undefined names are errors, so a template cannot quietly show nothing.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from services.incidents.times import human
from shared.links import safe_link

TEMPLATES = Path(__file__).parent / "templates"

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html.j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
ENVIRONMENT.filters["human"] = human
ENVIRONMENT.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
ENVIRONMENT.filters["safe_url"] = safe_link
