"""Serving-engine presets, looked up by the name used in the spec's `engine` key."""

from llmmon.engines import openai_compatible, vllm
from llmmon.engines.base import Counter, Gauge, Histogram, Preset

PRESETS: dict[str, Preset] = {p.name: p for p in (openai_compatible.PRESET, vllm.PRESET)}

__all__ = ["PRESETS", "Counter", "Gauge", "Histogram", "Preset"]
