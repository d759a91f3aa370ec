"""llmmon: monitoring-as-code for LLM inference services."""

__version__ = "0.1.0"
