"""The jinja2 environment, configured once; templates ship inside the wheel as llmmon/templates."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


def template_dir() -> Path:
    """Where the templates are: inside the installed package, or the repository's templates/ folder."""
    packaged = _HERE / "templates"
    return packaged if packaged.is_dir() else _HERE.parent / "templates"


@functools.cache
def environment() -> Any:
    """The one jinja2 Environment: strict about undefined names, whitespace as written."""
    import jinja2  # imported here: only generation needs it

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(name: str, **context: Any) -> str:
    """Render one template."""
    text: str = environment().get_template(name).render(**context)
    return text
