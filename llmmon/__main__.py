"""Allow `python -m llmmon`."""

from llmmon.cli import main

main()
