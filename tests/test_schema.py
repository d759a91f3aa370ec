"""`llmmon schema` is a JSON Schema editors can use: valid, strict, and accepting every shipped spec."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import ROOT
from llmmon.spec import json_schema

SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def _walk(node: object, path: str = "") -> list[str]:
    problems = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("ge", "gt", "le", "lt"):
                problems.append(f"{path}: pydantic keyword {key!r} is not JSON Schema")
            if key == "default" and isinstance(value, dict) and "ms" in value:
                problems.append(f"{path}: a duration default is printed as {value}")
            if key == "anyOf" and {} in value:
                problems.append(f"{path}: an empty schema accepts anything")
            problems += _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problems += _walk(value, f"{path}[{index}]")
    return problems


def test_the_schema_is_valid_json_schema_with_real_keywords_only() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert _walk(schema) == []
    assert json.dumps(schema, sort_keys=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_shipped_spec_validates_against_the_schema(spec: Path) -> None:
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(yaml.safe_load(spec.read_text())))
    assert [e.message for e in errors] == []


def test_the_schema_rejects_unknown_keys_as_the_loader_does() -> None:
    data = yaml.safe_load((ROOT / "specs" / "minimal.yaml").read_text())
    data["defaults"]["slo"]["availabilty"] = 99.9
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(data))
