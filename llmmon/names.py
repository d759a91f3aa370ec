"""Model names from the names engines report: `meta-llama/Llama-3-70B` is served as that, labelled `llama-3-70b`.

A spec's `name` is a label value and part of object and file names (lowercase, no slash); the engine's own name,
as vLLM reports it from Hugging Face, goes in `served_name`. These turn one into the other for hints and `init`.
"""

from __future__ import annotations

import re

from llmmon.spec import MODEL_NAME

_OTHER = re.compile(r"[^a-z0-9._-]+")


def label_for(served: str) -> str | None:
    """The model name for an engine's model name (its last path part, lowercased, other characters as '-'),
    or None when nothing valid is left."""
    name = _OTHER.sub("-", served.rsplit("/", 1)[-1].lower())
    name = re.sub(r"-{2,}", "-", name)[:63].strip("-._")
    return name if MODEL_NAME.fullmatch(name) else None


def served_name_hint(given: str) -> str | None:
    """For a model name with a slash or capitals: use a valid `name` and keep the given one as `served_name`."""
    name = label_for(given)
    if name is None or name == given or not ("/" in given or given != given.lower()):
        return None
    return f"use name: {name} with served_name: {given}, the engine's own model name"
