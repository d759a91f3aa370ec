"""`llmmon init`: a commented starter spec that validates as it is, for a chosen engine and models."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_FILE = "llmmon.yaml"
DEFAULT_SCHEMA = "llmmon.schema.json"
LATENCY_TARGET_S = 2.0  # the starter's latency objective: the first bucket at or above 2s
TTFT_TARGET_S = 1.0


class InitError(Exception):
    """A flag of `llmmon init` that cannot make a valid spec."""


def parse_models(text: str) -> tuple[str, ...]:
    """Models from `a,b,c`: each a model name or an engine's own (Hugging Face) name such as
    meta-llama/Llama-3-70B, none twice once named; raises InitError."""
    names = tuple(n.strip() for n in text.split(","))
    if not names or any(not n for n in names):
        raise InitError(f"--models {text!r}: give model names separated by commas, e.g. llama-3-8b,qwen2-7b "
                        "or meta-llama/Llama-3-70B")
    labels = [_named(n)[0] for n in names]
    twice = sorted({n for n in labels if labels.count(n) > 1})
    if twice:
        raise InitError(f"--models: {', '.join(twice)} given twice")
    return names


def _named(model: str) -> tuple[str, str | None]:
    """(name, served_name) of one --models entry: a model name as it is; an engine's name such as
    meta-llama/Llama-3-70B becomes name llama-3-70b with that served_name; raises InitError."""
    from llmmon.names import label_for
    from llmmon.spec import MODEL_NAME

    if MODEL_NAME.fullmatch(model):
        return model, None
    name = label_for(model)
    if name is None or not re.fullmatch(r"[A-Za-z0-9][-A-Za-z0-9._/:]*", model):  # as Hugging Face names go
        raise InitError(f"--models: {model!r} is not a model name (lowercase letters, digits, '-', '.', '_'; "
                        "63 at most, starting and ending with a letter or digit) nor an engine's model name such "
                        "as meta-llama/Llama-3-70B")
    return name, model


def schema_reference(spec: Path, schema: str) -> str:
    """What the spec's `$schema` line holds: a URL as it is, a file relative to the spec's folder."""
    if "://" in schema:
        return schema
    return Path(os.path.relpath(Path(schema).absolute(), spec.absolute().parent)).as_posix()


def _bucket(buckets: tuple[float, ...], wanted: float) -> float | None:
    """The first bucket at or above `wanted` that is not the largest (an alert must be able to exceed it)."""
    usable = buckets[:-1]
    return next((b for b in usable if b >= wanted), usable[-1] if usable else None)


def files(out: Path, engine: str, models: str, name: str, namespace: str, schema: str,
          force: bool = False) -> dict[Path, str]:
    """What `llmmon init` writes: the spec (at `-`: printed) and, unless `schema` is a URL, the schema next to it."""
    from llmmon.spec import json_schema_text

    to_stdout = str(out) == "-"
    schema_path = None if to_stdout or "://" in schema else out.parent / schema
    text = render(engine, parse_models(models), name=name, namespace=namespace,
                  schema=schema_reference(out, str(schema_path or schema)), file=str(out))
    if not to_stdout and out.exists() and not force:
        raise InitError(f"{out} exists; choose another file with -o, or --force to overwrite it")
    written = {out: text}
    if schema_path:
        written[schema_path] = json_schema_text()
    return written


def _seconds(value: float | None) -> str | None:
    """A duration in whole milliseconds (TGI's bounds are irrational; llmmon matches them within 0.1%)."""
    from llmmon.units import format_number

    return f"{format_number(round(value, 3))}s" if value else None


def render(engine: str, models: tuple[str, ...], name: str = "llm-platform", namespace: str = "llm-serving",
           schema: str = DEFAULT_SCHEMA, file: str = DEFAULT_FILE) -> str:
    """The starter spec's text; raises InitError for an unknown engine or an invalid name."""
    from llmmon.engines import PRESETS
    from llmmon.spec import DNS_LABEL
    from llmmon.templates import render as render_template
    from llmmon.yamlout import scalar

    preset = PRESETS.get(engine)
    if preset is None:
        raise InitError(f"--engine: {engine!r} has no preset (available: {', '.join(sorted(PRESETS))})")
    for flag, value in (("--name", name), ("--namespace", namespace)):
        if not DNS_LABEL.fullmatch(value):
            raise InitError(f"{flag}: {value!r} is not a DNS-1123 label (lowercase letters, digits, '-'; 63 at most)")
    latency = _bucket(preset.latency.seconds, LATENCY_TARGET_S) if preset.latency else None
    ttft = _bucket(preset.ttft.seconds, TTFT_TARGET_S) if preset.ttft else None
    text: str = render_template(
        "init.yaml.j2", schema=schema, file=file, spec_name=name, namespace=namespace, engine=engine,
        engines=" | ".join(sorted(PRESETS)), models=[(scalar(n), s and scalar(s)) for n, s in map(_named, models)],
        by_pod=preset.by_pod,
        latency=_seconds(latency), ttft=_seconds(ttft),
        latency_metric=preset.latency.metric if preset.latency else "")
    _check(text, file)
    return text


def _check(text: str, file: str) -> None:
    """The starter must compile without a single diagnostic; anything else is a bug in llmmon."""
    from llmmon.diagnostics import SpecError
    from llmmon.loader import parse_spec
    from llmmon.resolver import resolve

    spec, doc, diagnostics = parse_spec(text.encode(), file)
    if spec is not None:
        try:
            diagnostics += resolve(spec, doc, file)[1]
        except SpecError as exc:
            diagnostics += exc.diagnostics
    problems = [d.render() for d in diagnostics]
    if spec is None or problems:
        raise AssertionError("llmmon init wrote a spec that does not validate: " + "; ".join(problems))
