"""Serving-engine presets, looked up by the spec's `engine` key and, optionally, `engine_version`.

`PRESETS` maps an engine name to its default variant (the newest version llmmon knows); `VERSIONS` maps it to
every variant by version, for engines whose names or bucket sets changed between releases.
"""

from dataclasses import replace

from llmmon.engines import openai_compatible, otel_genai, sglang, tgi, triton, vllm
from llmmon.engines.base import Counter, Deprecation, Gauge, Histogram, Preset, Semantics, describe, le_matcher

PRESETS: dict[str, Preset] = {p.name: p for p in (openai_compatible.PRESET, vllm.PRESET, tgi.PRESET, sglang.PRESET,
                                                  triton.PRESET, otel_genai.PRESET)}
VERSIONS: dict[str, dict[str, Preset]] = {"vllm": vllm.VERSIONS, "sglang": sglang.VERSIONS}


def variants(name: str) -> list[Preset]:
    """Every variant of an engine, oldest version first (one for engines without versions)."""
    if name in VERSIONS:
        return list(VERSIONS[name].values())
    return [PRESETS[name]] if name in PRESETS else []


def preset_for(name: str, version: str | None) -> Preset | None:
    """The variant of engine `name` at `version` (None: the default one); None when there is no such variant.

    A declared version gives the rules a distinct `engine` label (`vllm-0.5`), so models of two versions in one
    spec get rule sets of their own."""
    if name not in PRESETS:
        return None
    if version is None:
        return PRESETS[name]
    found = VERSIONS.get(name, {}).get(version)
    return replace(found, pinned=True) if found else None


__all__ = ["PRESETS", "VERSIONS", "Counter", "Deprecation", "Gauge", "Histogram", "Preset", "Semantics", "describe",
           "le_matcher", "preset_for", "variants"]
