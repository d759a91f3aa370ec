"""The ILM policy and index template against the Elasticsearch client's own request types (tsc --strict)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT
from llmmon import logrecord
from llmmon.checks import estypes

OUT = ROOT / "out" / "elasticsearch"
POLICY = json.loads((OUT / "ilm-policy.json").read_text(encoding="utf-8"))
TEMPLATE = json.loads((OUT / "index-template.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def types() -> Path:
    """The installed types (`make tools`); a clear failure when they are missing."""
    found = estypes.find()
    assert found is not None, f"@elastic/elasticsearch types are not installed: {estypes.INSTALL_HINT}"
    return found


def _check(types: Path, policy: dict[str, Any] = POLICY, template: dict[str, Any] = TEMPLATE) -> list[str]:
    return estypes.check(types, {"ilm-policy": ("llm-logs-retention", policy),
                                 "index-template": ("llm-logs-retention", template)})


def test_the_generated_policy_and_template_are_valid_requests(types: Path) -> None:
    assert _check(types) == []


def test_a_broken_policy_and_template_fail_the_type_check_with_their_position(types: Path) -> None:
    policy = copy.deepcopy(POLICY)
    policy["policy"]["phases"]["lukewarm"] = {"min_age": "1d", "actions": {}}
    template = copy.deepcopy(TEMPLATE)
    template["index_pattern"] = template.pop("index_patterns")
    found = _check(types, policy, template)
    # tsc reports the first unknown key of each object literal
    for file, text in (("ilm-policy", "'\"lukewarm\"' does not exist in type 'IlmPhases'"),
                       ("index-template", "'\"index_pattern\"' does not exist")):
        assert any(f.startswith(f"{file}.ts:") and text in f for f in found), (text, found)


def test_an_unknown_action_and_a_mapping_type_that_is_no_type_fail(types: Path) -> None:
    policy = copy.deepcopy(POLICY)
    policy["policy"]["phases"]["delete"]["actions"]["shred"] = {}
    template = copy.deepcopy(TEMPLATE)
    template["template"]["mappings"]["properties"]["level"] = {"type": "strng"}
    found = _check(types, policy, template)
    assert any(f.startswith("ilm-policy.ts:") and "'\"shred\"' does not exist in type 'IlmActions'" in f
               for f in found), found
    assert any(f.startswith("index-template.ts:") and "TS2322" in f for f in found), found


def test_the_template_maps_every_field_of_the_log_record_contract() -> None:
    properties = TEMPLATE["template"]["mappings"]["properties"]
    expected = {("@timestamp" if f.name == logrecord.TIME_KEY else f.name): f.es_type for f in logrecord.FIELDS}
    assert {k: v["type"] for k, v in properties.items()} == expected
