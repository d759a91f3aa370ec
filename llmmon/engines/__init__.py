"""Serving-engine presets, looked up by the name used in the spec's `engine` key."""

from llmmon.engines import openai_compatible, otel_genai, sglang, tgi, triton, vllm
from llmmon.engines.base import Counter, Deprecation, Gauge, Histogram, Preset, le_matcher

PRESETS: dict[str, Preset] = {p.name: p for p in (openai_compatible.PRESET, vllm.PRESET, tgi.PRESET, sglang.PRESET,
                                                  triton.PRESET, otel_genai.PRESET)}

__all__ = ["PRESETS", "Counter", "Deprecation", "Gauge", "Histogram", "Preset", "le_matcher"]
