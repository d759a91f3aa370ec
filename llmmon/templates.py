"""The jinja2 environment, configured once; templates ship inside the wheel as llmmon/templates."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

from llmmon import buildcache

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
        bytecode_cache=_bytecode_cache(),
    )


def _bytecode_cache() -> Any:
    """jinja2's cache of compiled templates (keyed by each template's source) in llmmon's build cache: compiling
    the templates costs ~12 ms a run, loading them ~1. None when the cache is off or cannot be made."""
    import jinja2

    base = buildcache.folder()
    if base is None:
        return None
    where = base / "jinja"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None

    class Cache(jinja2.FileSystemBytecodeCache):
        """One that never fails a run: an entry it cannot read is compiled again, one it cannot write is not kept."""

        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # unreadable, truncated, a damaged checksum pickle: compile the template again
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)
                buildcache.prune(where)

    return Cache(str(where))


def render(name: str, **context: Any) -> str:
    """Render one template."""
    text: str = environment().get_template(name).render(**context)
    return text
