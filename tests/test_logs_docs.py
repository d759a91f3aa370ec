"""docs/logs-and-traces.md states the log record contract as llmmon.logrecord defines it."""

from __future__ import annotations

from helpers import ROOT
from llmmon import logrecord

DOC = ROOT / "docs" / "logs-and-traces.md"


def test_the_docs_carry_the_contract_table_written_from_logrecord() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- logrecord:start -->\n", "<!-- logrecord:end -->"
    held = text[text.index(start) + len(start):text.index(end)]
    assert held == logrecord.table(), "docs/logs-and-traces.md is stale: paste the output of logrecord.table()"


def test_the_docs_name_every_component_the_collector_config_uses() -> None:
    from llmmon.checks import otelcol

    text = DOC.read_text(encoding="utf-8")
    for names in otelcol.COMPONENTS.values():
        for name in names:
            assert f"`{name}`" in text
