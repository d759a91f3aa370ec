"""KEDA ScaledObjects: valid against KEDA's CRD schema, and their trigger reads what the rules record."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from helpers import EXAMPLE, generate, plan_of, promtool
from llmmon.checks import crds, crds_keda
from llmmon.emit import autoscaling, prom_tests
from llmmon.emit import prometheus as rules


def _scaled_objects(out: Path) -> list[dict[str, object]]:
    plan = plan_of(EXAMPLE)
    bundle = generate(plan, out)
    text = bundle.files[f"kubernetes/{plan.name}-autoscaling.yaml"]
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_example_scaled_object_is_valid_against_kedas_crd_and_listed_in_the_kustomization(tmp_path: Path) -> None:
    objects = _scaled_objects(tmp_path)
    assert [o["kind"] for o in objects] == ["ScaledObject"]
    assert crds.known(objects[0]) and crds.problems(objects[0]) == []
    kustomization = yaml.safe_load((tmp_path / "kubernetes" / "kustomization.yaml").read_text())
    assert "llm-platform-autoscaling.yaml" in kustomization["resources"]


def test_a_field_the_crd_does_not_name_is_an_error_not_silently_pruned(tmp_path: Path) -> None:
    bad = copy.deepcopy(_scaled_objects(tmp_path)[0])
    spec = bad["spec"]
    assert isinstance(spec, dict)
    spec["minReplicas"] = spec.pop("minReplicaCount")  # the HPA's spelling
    spec["maxReplicaCount"] = "6"
    found = crds.problems(bad)
    assert "spec.minReplicas: unknown field (not in the CRD)" in found
    assert any(p.startswith("spec.maxReplicaCount: '6' is not of type 'integer'") for p in found)


def test_the_crd_schema_fixture_names_its_source_commit() -> None:
    raw = json.loads(crds_keda.SCHEMA_FILE.read_text())
    assert "kedacore/keda" in raw["$comment"] and "keda.sh_scaledobjects.yaml" in raw["$comment"]
    assert crds_keda.schema()["properties"]["spec"]["additionalProperties"] is False


def test_the_trigger_query_returns_the_models_request_rate_from_the_recorded_rules(tmp_path: Path) -> None:
    """promtool evaluates the trigger's query over the healthy scenario: one sample, the model's request rate."""
    plan = plan_of(EXAMPLE)
    generate(plan, tmp_path)
    model = next(m for m in plan.models if m.autoscaling)
    assert model.autoscaling is not None and model.autoscaling.signal == "requests"
    query = autoscaling.query(plan, model)
    assert rules.REQUESTS in query
    path = tmp_path / "prometheus" / "tests" / f"{plan.name}-healthy.test.yaml"
    test = yaml.safe_load(path.read_text())
    rps = prom_tests.healthy(model, plan).rps
    test["tests"][0]["promql_expr_test"] = [{"expr": f"round({query} * 1000)", "eval_time": "30m",
                                             "exp_samples": [{"labels": "{}", "value": round(rps * 1000)}]}]
    path.write_text(yaml.safe_dump(test))
    done = promtool("test", "rules", path.name, cwd=path.parent)
    assert done.returncode == 0, done.stdout + done.stderr
