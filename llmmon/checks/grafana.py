"""Checks of the generated Grafana dashboards, run by `llmmon validate` and the tests.

1. Schema: every dashboard validates against JSON Schemas derived from Grafana's own TypeScript types
   (@grafana/schema; grafana_schema.json, made by tests/fixtures/grafana/derive_schema.sh): the dashboard,
   each panel's options and field config, and every field override.
2. PromQL: every panel and variable query parses (promql-parser) once Grafana's variables are filled in.
3. No dead panels: every metric a query reads is recorded by the generated rules (with label values those
   rules can produce), exported by a model's engine or by the GPU exporter, or is ALERTS of a generated alert.
Plus the ConfigMaps: each carries its dashboard byte for byte, labelled for Grafana's sidecar.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmmon.checks.grafana_queries import Known, iter_panels, panel_name, query_findings
from llmmon.checks.result import CheckResult
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

SCHEMA_FILE = Path(__file__).with_name("grafana_schema.json")
MIN_SCHEMA_VERSION = 39
LEGACY_PANELS = {"graph": "timeseries", "singlestat": "stat", "table-old": "table"}
CONFIG_MAP_LIMIT = 1_000_000  # bytes of data: etcd refuses objects over 1.5 MiB, kubectl apply annotations 256 KiB


def checker() -> str:
    """What the check runs on besides llmmon: the releases of jsonschema and promql-parser."""
    return "\0".join(f"{name} {_release(name)}" for name in ("jsonschema", "promql-parser"))


def _release(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def check(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """Schema, PromQL and no-dead-panel checks of every generated dashboard, and of their ConfigMaps."""
    paths = sorted(p for p in bundle.files if p.startswith("grafana/") and p.endswith(".json"))
    result = CheckResult()
    if not paths:
        return result
    try:
        import jsonschema  # noqa: F401  (both are dependencies; a bare `--no-deps` install may lack them)
        import promql_parser  # noqa: F401
    except ImportError as exc:
        result.missing.append(f"grafana dashboards: {exc.name} is not installed (pip install "
                              f"{(exc.name or 'jsonschema').replace('_', '-')})")
        return result
    known = Known.of(bundle, plan)
    schema, queries, panels, count = [], [], 0, 0
    for rel in paths:
        data = json.loads((root / rel).read_text(encoding="utf-8"))
        schema += schema_findings(rel, data) + override_findings(rel, data, plan)
        found, n = query_findings(rel, data, known, plan)
        queries += found
        count += n
        panels += sum(1 for p in iter_panels(data) if p.get("type") != "row")
    maps = config_map_findings(root, bundle, plan, paths)
    result.findings += schema + queries + maps
    version = schemas()["source"]["package"].rsplit("@", 1)[1]
    if not schema:
        result.passed.append(f"grafana: {len(paths)} dashboards ({panels} panels) valid against the types of "
                             f"@grafana/schema {version}")
    if not queries:
        result.passed.append(f"grafana: {count} queries parse as PromQL and read only recorded or exported series")
    if not maps:
        result.passed.append(f"grafana: {len(paths)} dashboard ConfigMaps labelled for the Grafana sidecar")
    return result


@functools.cache
def schemas() -> dict[str, Any]:
    """The bundled schemas derived from @grafana/schema."""
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def _validate(schema: dict[str, Any], value: Any, where: str) -> list[str]:
    from jsonschema import Draft7Validator

    out = []
    for error in sorted(Draft7Validator(schema).iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        error = _closest(error)
        path = ".".join(str(p) for p in error.absolute_path)
        message = error.message if len(error.message) <= 200 else error.message[:160] + " ... (shortened)"
        out.append(f"{where}{'.' + path if path else ''}: {message}")
    return out


def _closest(error: Any) -> Any:
    """For a value that matches no branch of an anyOf (a panel is a Panel or a RowPanel), the error of the
    branch it comes closest to, rather than the whole value."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        consts = [e[0] for e in branches.values() if len(e) == 1 and e[0].validator == "const"]
        if len(consts) == len(branches) and len({tuple(e.relative_path) for e in consts}) == 1:
            allowed = ", ".join(repr(e.validator_value) for e in consts)
            consts[0].message = f"{consts[0].instance!r} is not one of {allowed}"
            return consts[0]
        nearest = min(branches.values(), key=len)
        error = nearest[0]
        if len(nearest) != 1:
            break
    return error


def _fragment(bundle: dict[str, Any], definition: str) -> dict[str, Any]:
    """A schema whose root is one definition of a derived schema (keeps its other definitions for $ref)."""
    return {"$ref": f"#/definitions/{definition}", "definitions": bundle["definitions"]}


def schema_findings(rel: str, data: dict[str, Any], bundled: dict[str, Any] | None = None) -> list[str]:
    """Problems of one dashboard against Grafana's dashboard and panel types (by default those of
    grafana_schema.json; the tests also pass those of older Grafana releases)."""
    all_schemas = bundled or schemas()
    out = [f"{rel}: {line}" for line in _validate(all_schemas["dashboard"], data, "dashboard")]
    version = data.get("schemaVersion")
    if not isinstance(version, int) or version < MIN_SCHEMA_VERSION:
        out.append(f"{rel}: schemaVersion {version!r} is older than {MIN_SCHEMA_VERSION} (Grafana 10.4)")
    uid = data.get("uid")
    if not isinstance(uid, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid):
        out.append(f"{rel}: uid {uid!r} must be 1-40 letters, digits, '-' or '_'")
    field_config = _fragment(all_schemas["dashboard"], "FieldConfig")
    seen: set[Any] = set()
    for panel in iter_panels(data):
        where = f"{rel}: {panel_name(panel)}"
        if panel.get("id") in seen:
            out.append(f"{where}: id is used by another panel")
        seen.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        if isinstance(grid.get("x"), int) and isinstance(grid.get("w"), int) and grid["x"] + grid["w"] > 24:
            out.append(f"{where}: gridPos reaches past the 24 columns of the grid")
        kind = panel.get("type")
        if kind == "row":
            continue
        if kind in LEGACY_PANELS:
            out.append(f"{where}: legacy panel type {kind!r}; use {LEGACY_PANELS[kind]!r}")
            continue
        panel_schemas = all_schemas["panels"].get(kind)
        if panel_schemas is None:
            out.append(f"{where}: panel type {kind!r} has no derived schema (checked: "
                       f"{', '.join(sorted(all_schemas['panels']))})")
            continue
        out += _panel_findings(where, panel, panel_schemas, field_config)
    return out


def _panel_findings(where: str, panel: dict[str, Any], panel_schemas: dict[str, Any],
                    field_config: dict[str, Any]) -> list[str]:
    out = _validate(panel_schemas["options"], panel.get("options", {}), f"{where}: options")
    custom_schema = panel_schemas.get("fieldConfig")
    fc = panel.get("fieldConfig") or {}
    custom = (fc.get("defaults") or {}).get("custom")
    if custom_schema is not None and custom is not None:
        out += _validate(custom_schema, custom, f"{where}: fieldConfig.defaults.custom")
    elif custom:
        out.append(f"{where}: fieldConfig.defaults.custom: a {panel.get('type')} panel has no custom field options")
    for i, override in enumerate(fc.get("overrides") or []):
        for prop in override.get("properties") or [] if isinstance(override, dict) else []:
            prop_id, value = prop.get("id", ""), prop.get("value")
            at = f"{where}: fieldConfig.overrides.{i}"
            if prop_id.startswith("custom."):
                if custom_schema is None:
                    out.append(f"{at}.{prop_id}: a {panel.get('type')} panel has no custom field options")
                else:
                    out += _validate(custom_schema, {prop_id[7:]: value}, at + ".custom")
            elif prop_id in field_config["definitions"]["FieldConfig"]["properties"]:
                out += _validate(field_config, {prop_id: value}, at)
            else:
                out.append(f"{at}.{prop_id}: unknown field option")
    for target in panel.get("targets") or []:
        source = target.get("datasource") if isinstance(target, dict) else None
        if not (isinstance(source, dict) and source.get("type") == "prometheus" and source.get("uid")):
            out.append(f"{where}: query {target.get('refId', '?')}: datasource must be an object reference "
                       f"{{type: prometheus, uid: ...}}, got {source!r}")
    return out


def override_findings(rel: str, data: dict[str, Any], plan: Plan) -> list[str]:
    """Field overrides that match none of the series or columns a panel can show (so their thresholds or
    styles would silently apply to nothing); Grafana anchors a byRegexp pattern written without slashes."""
    samples = {"model": [m.name for m in plan.models] or ["x"],
               "slo": sorted({o.kind for m in plan.models for o in m.objectives}) or ["x"]}
    out = []
    for panel in iter_panels(data):
        names = _display_names(panel, samples)
        for i, override in enumerate((panel.get("fieldConfig") or {}).get("overrides") or []):
            matcher = override.get("matcher") or {} if isinstance(override, dict) else {}
            kind, option = matcher.get("id"), matcher.get("options")
            if kind == "byRegexp" and isinstance(option, str):
                try:
                    regex = _grafana_regex(option)
                except re.error as exc:
                    out.append(f"{rel}: {panel_name(panel)}: fieldConfig.overrides.{i}: bad regex {option!r}: {exc}")
                    continue
                matched = any(regex.search(n) for n in names)
            elif kind == "byName":
                matched = option in names
            else:
                continue
            if not matched:
                shown = ", ".join(sorted(names)[:6])
                out.append(f"{rel}: {panel_name(panel)}: fieldConfig.overrides.{i}: {kind} {option!r} matches none of "
                           f"the panel's series or columns ({shown}{', ...' if len(names) > 6 else ''})")
    return out


def _grafana_regex(pattern: str) -> re.Pattern[str]:
    """A byRegexp pattern as Grafana reads it: `/body/flags`, else anchored at both ends."""
    match = re.fullmatch(r"/(.*?)/([gimys]*)", pattern, re.S)
    if not match:
        return re.compile(f"^{pattern}$")
    flags = (re.I if "i" in match[2] else 0) | (re.M if "m" in match[2] else 0) | (re.S if "s" in match[2] else 0)
    return re.compile(match[1], flags)


def _display_names(panel: dict[str, Any], samples: dict[str, list[str]]) -> set[str]:
    """Names the panel's fields can have: table columns, or legends filled in with sample label values."""
    names: set[str] = set()
    for transformation in panel.get("transformations") or []:
        if transformation.get("id") == "organize":
            options = transformation.get("options") or {}
            renamed = options.get("renameByName") or {}
            names |= {renamed.get(k, k) for k in options.get("indexByName") or {}}
    for target in panel.get("targets") or [] if panel.get("type") != "table" else []:
        legends = [str(target.get("legendFormat") or "")]
        for label in sorted(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legends[0]))):
            pattern = re.compile(r"\{\{\s*" + label + r"\s*\}\}")
            legends = [pattern.sub(value, legend) for legend in legends for value in samples.get(label, ["x"])]
        names |= set(legends)
    return names - {""}


def config_map_findings(root: Path, bundle: Bundle, plan: Plan, paths: list[str]) -> list[str]:
    """Each dashboard has a ConfigMap in metadata.namespace, labelled for the sidecar, holding its exact text."""
    import yaml

    out = []
    for rel in paths:
        role = rel.removeprefix(f"grafana/{plan.name}-").removesuffix(".json")
        cm_path = f"kubernetes/{plan.name}-dashboard-{role}.yaml"
        if cm_path not in bundle.files:
            out.append(f"{rel}: no ConfigMap {cm_path} carries it")
            continue
        doc = yaml.safe_load((root / cm_path).read_text(encoding="utf-8"))
        meta = doc.get("metadata") or {}
        data = doc.get("data") or {}
        if doc.get("kind") != "ConfigMap" or (meta.get("labels") or {}).get("grafana_dashboard") != "1":
            out.append(f"{cm_path}: not a ConfigMap labelled grafana_dashboard: \"1\"")
        if meta.get("namespace") != plan.namespace:
            out.append(f"{cm_path}: namespace {meta.get('namespace')!r} is not metadata.namespace {plan.namespace!r}")
        if list(data.values()) != [(root / rel).read_text(encoding="utf-8")]:
            out.append(f"{cm_path}: its data is not exactly {rel}")
        size = sum(len(str(v).encode()) for v in data.values())
        if size > CONFIG_MAP_LIMIT:
            out.append(f"{cm_path}: {size} bytes of data; a ConfigMap holds at most about 1 MB")
    return out
