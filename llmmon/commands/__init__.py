"""The bodies of the `llmmon` commands; llmmon.cli declares their flags and calls them."""
