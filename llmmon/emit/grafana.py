"""Grafana dashboards built with grafanalib (the only module that imports it), and their ConfigMaps.

grafanalib 0.7 writes JSON for old Grafana releases; `_modern` keeps only what current Grafana's dashboard
schema knows (object data-source references, no legacy keys, no nulls) and the checks in
llmmon/checks/grafana.py validate the result against the types of @grafana/schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from llmmon import buildcache
from llmmon.emit import dashboard_roles
from llmmon.emit.dashboards import BAD, DATASOURCE, GOOD, Board, Limit, Panel, generated_description, model_regex
from llmmon.emit.kubernetes import object_labels
from llmmon.emit.prometheus import INFO
from llmmon.model import Plan
from llmmon.promql import SPEC_LABEL, eq, selector
from llmmon.yamlout import dump

SCHEMA_VERSION = 39  # Grafana 10.4 and 11; Grafana 12 and 13 migrate it on load
GRID_WIDTH = 24
REFRESH = "1m"
TABLE_FORMAT, SERIES_FORMAT, HEATMAP_FORMAT = "table", "time_series", "heatmap"
# Heatmaps of pre-bucketed rates (`le` series): Grafana takes the buckets as they are instead of re-bucketing
HEATMAP_OPTIONS = {"calculate": False, "cellGap": 1, "rowsFrame": {"layout": "le"}, "showValue": "never",
                   "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "fill": "dark-orange",
                             "reverse": False, "steps": 64},
                   "legend": {"show": True}, "tooltip": {"mode": "single", "yHistogram": True},
                   "filterValues": {"le": 1e-9}, "exemplars": {"color": "rgba(255,0,255,0.7)"}}
_DASHBOARD_KEYS = {"annotations", "description", "editable", "graphTooltip", "links", "panels", "refresh",
                   "schemaVersion", "tags", "templating", "time", "timepicker", "timezone", "title", "uid", "version"}
_PANEL_KEYS = {"collapsed", "datasource", "description", "fieldConfig", "gridPos", "id", "options", "panels",
               "targets", "title", "transformations", "type"}
_FIELD_KEYS = {"color", "custom", "decimals", "mappings", "max", "min", "noValue", "thresholds", "unit"}
_TARGET_KEYS = {"datasource", "expr", "format", "instant", "legendFormat", "refId"}
_VARIABLE_KEYS = {"allValue", "current", "datasource", "hide", "includeAll", "label", "multi", "name", "options",
                  "query", "refresh", "regex", "sort", "type"}


def uid(spec: str, role: str) -> str:
    """A stable dashboard UID (Grafana allows 40 characters): `<spec>-<role>`, shortened with a hash if needed."""
    full = f"{spec}-{role}"
    if len(full) <= 40:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{spec[:40 - len(role) - 10]}-{role}-{digest}"


def file_name(plan: Plan, role: str) -> str:
    """Where a role's dashboard is written, relative to the output directory."""
    return f"grafana/{plan.name}-{role}.json"


def emit(plan: Plan, head: str) -> dict[str, str]:
    """The dashboards of the spec's roles and one ConfigMap each for Grafana's dashboard sidecar."""
    files: dict[str, str] = {}
    for board in dashboard_roles.boards(plan):
        text = built(plan, board, head)
        files[file_name(plan, board.role)] = text
        files[f"kubernetes/{plan.name}-dashboard-{board.role}.yaml"] = config_map(plan, board.role, text, head)
    return files


def built(plan: Plan, board: Board, head: str) -> str:
    """A board's dashboard JSON text; from the build cache when the board, the spec's name and cluster, the
    generated-by text and the code of llmmon and grafanalib are those it was built from (no grafanalib import)."""
    entry = buildcache.key("dashboard", repr((plan.name, plan.cluster, head, board)), ("llmmon", "grafanalib"))
    text = buildcache.get("dashboards", entry)
    if text is None:
        text = json.dumps(dashboard(plan, board, head), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        buildcache.put("dashboards", entry, text)
    return text


def config_map(plan: Plan, role: str, text: str, head: str) -> str:
    """A ConfigMap holding one dashboard, labelled `grafana_dashboard: "1"` for the Grafana sidecar."""
    labels = dict(sorted({**object_labels(plan, "dashboard"), "grafana_dashboard": "1"}.items()))
    document = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"{plan.name}-dashboard-{role}", "namespace": plan.namespace, "labels": labels},
                "data": {f"{plan.name}-{role}.json": text}}
    return "".join(f"# {line}\n" for line in head.splitlines()) + dump(document)


def dashboard(plan: Plan, board: Board, head: str) -> dict[str, Any]:
    """One board as current Grafana dashboard JSON (a dict)."""
    import grafanalib.core as g
    from grafanalib._gen import DashboardEncoder

    built = g.Dashboard(
        title=board.title, uid=uid(plan.name, board.role), description=generated_description(head, board.summary),
        tags=["llmmon", plan.name, board.role], timezone="browser", refresh=REFRESH, schemaVersion=SCHEMA_VERSION,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, time=g.Time(board.time_from, "now"),
        templating=g.Templating(_variables(plan)), panels=_layout(board),
        links=[g.DashboardLink(title="llmmon dashboards", type="dashboards", tags=["llmmon", plan.name],
                               asDropdown=True, includeVars=True, keepTime=True)],
    )
    data: dict[str, Any] = json.loads(json.dumps(built.to_json_data(), cls=DashboardEncoder))
    return _modern(data)


def _variables(plan: Plan) -> list[Any]:
    import grafanalib.core as g

    info = [eq(SPEC_LABEL, plan.name)]
    out = [g.Template(name="datasource", label="Data source", query="prometheus", type="datasource",
                      default="default", regex="")]
    if plan.cluster:
        out.append(g.Template(name="cluster", label="Cluster", dataSource=DATASOURCE, default=plan.cluster,
                              query=f"label_values({selector(INFO, *info)}, cluster)", regex="",
                              refresh=g.REFRESH_ON_DASHBOARD_LOAD))
        info.append(eq("cluster", "$cluster"))
    out.append(g.Template(name="model", label="Model", dataSource=DATASOURCE, multi=True, includeAll=True,
                          allValue=".+", default="$__all", query=f"label_values({selector(INFO, *info)}, model)",
                          regex="", refresh=g.REFRESH_ON_DASHBOARD_LOAD))
    return out


def _layout(board: Board) -> list[Any]:
    """Rows and panels with grid positions, left to right and wrapping at 24 columns; ids in order."""
    import grafanalib.core as g

    out: list[Any] = []
    y = 0
    for row in board.rows:
        out.append(g.RowPanel(title=row.title, id=len(out) + 1, gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x = line = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line = 0, y + line, 0
            position = g.GridPos(h=panel.height, w=panel.width, x=x, y=y)
            out.append(_panel(panel, len(out) + 1, position))
            x, line = x + panel.width, max(line, panel.height)
        y += line
    return out


def _targets(panel: Panel) -> list[Any]:
    import grafanalib.core as g

    form = {"table": TABLE_FORMAT, "heatmap": HEATMAP_FORMAT}.get(panel.kind, SERIES_FORMAT)
    return [g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), instant=q.instant,
                     datasource=DATASOURCE, format=form)
            for i, q in enumerate(panel.queries)]


def _steps(steps: tuple[tuple[str, float | None], ...]) -> list[dict[str, Any]]:
    return [{"color": colour, "value": value} for colour, value in steps]


def _limit_steps(limit: Limit, value: float) -> tuple[tuple[str, float | None], ...]:
    return ((BAD, None), (GOOD, value)) if limit.bad_below else ((GOOD, None), (BAD, value))


def _thresholds(panel: Panel) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """Default threshold steps, per-model overrides (one per distinct value of the spec), and whether the
    defaults are drawn as lines."""
    limit = panel.limit
    if limit is None:
        return _steps(panel.steps or ((GOOD, None),)), [], bool(panel.steps)
    if len(limit.values) == 1 and limit.complete:
        return _steps(_limit_steps(limit, limit.values[0])), [], True
    overrides = []
    for value in limit.values:
        names = [m for m, v in limit.by_model if v == value]
        properties: list[dict[str, Any]] = [
            {"id": "thresholds", "value": {"mode": "absolute", "steps": _steps(_limit_steps(limit, value))}}]
        if panel.kind == "timeseries":
            properties.append({"id": "custom.thresholdsStyle", "value": {"mode": "line"}})
        # Grafana anchors a byRegexp pattern written without slashes: it matches whole series names.
        overrides.append({"matcher": {"id": "byRegexp", "options": f"(?:{model_regex(names)}){limit.suffix}"},
                          "properties": properties})
    return _steps(((GOOD, None),)), overrides, False


def _panel(panel: Panel, panel_id: int, position: Any) -> Any:
    import grafanalib.core as g

    steps, overrides, lines = _thresholds(panel)
    if panel.dashed:
        overrides.append({"matcher": {"id": "byRegexp", "options": panel.dashed},
                          "properties": [{"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}}]})
    common: dict[str, Any] = {"title": panel.title, "description": panel.description, "id": panel_id,
                              "gridPos": position, "dataSource": DATASOURCE, "targets": _targets(panel)}
    defaults: dict[str, Any] = {"thresholds": {"mode": "absolute", "steps": steps}, "unit": panel.unit,
                                "decimals": panel.decimals, "min": panel.min, "max": panel.max,
                                "noValue": panel.no_value}
    if panel.kind == "timeseries":
        built = g.TimeSeries(
            **common, unit=panel.unit, fillOpacity=10, lineWidth=1, showPoints="never", tooltipMode="multi",
            tooltipSort="desc", legendDisplayMode="table", legendCalcs=["lastNotNull", "max"],
            thresholdsStyleMode="line" if lines else "off",
            stacking={"mode": "normal" if panel.stacked else "none", "group": "A"},
            overrides=overrides, extraJson={"fieldConfig": {"defaults": defaults},
                                            "options": {"legend": {"showLegend": True}}})
    elif panel.kind == "stat":
        built = g.Stat(
            **common, format=panel.unit, decimals=panel.decimals, reduceCalc="lastNotNull", colorMode="value",
            graphMode="none" if all(q.instant for q in panel.queries) else "area", textMode="auto",
            orientation="auto", overrides=overrides,
            extraJson={"fieldConfig": {"defaults": {**defaults, "color": {"mode": "thresholds"}}},
                       "options": {"showPercentChange": False, "wideLayout": True, "text": {}}})
    elif panel.kind == "heatmap":
        built = g.Heatmap(
            **common, dataFormat="tsbuckets",
            extraJson={"fieldConfig": {"defaults": {"custom": {"hideFrom": {"legend": False, "tooltip": False,
                                                                            "viz": False},
                                                               "scaleDistribution": {"type": "linear"}}}},
                       "options": {**HEATMAP_OPTIONS, "yAxis": {"axisPlacement": "left", "unit": panel.unit,
                                                                "reverse": False}}})
    elif panel.kind == "gauge":
        built = g.GaugePanel(
            **common, format=panel.unit, decimals=panel.decimals, min=panel.min, max=panel.max,
            extraJson={"fieldConfig": {"defaults": {**defaults, "color": {"mode": "thresholds"}},
                                       "overrides": overrides},
                       "options": {"orientation": "auto", "showThresholdLabels": False, "showThresholdMarkers": True,
                                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}})
    else:
        built = g.Table(
            **common, unit=panel.unit, overrides=overrides + _column_overrides(panel),
            transformations=_table_transformations(panel),
            sortBy=[g.TableSortByField(displayName=panel.sort[0], desc=panel.sort[1])] if panel.sort else [],
            extraJson={"fieldConfig": {"defaults": {**defaults, "color": {"mode": "thresholds"},
                                                    "custom": {"align": "auto", "cellOptions": {"type": "auto"},
                                                               "inspect": False}}},
                       "options": {"showHeader": True, "cellHeight": "sm", "frameIndex": 0}})
    return built


def _table_transformations(panel: Panel) -> list[dict[str, Any]]:
    """Merge the instant queries into one row per label set, then name, order and hide the columns."""
    exclude: dict[str, bool] = {"Time": True}
    rename: dict[str, str] = {}
    order = {label: i for i, label in enumerate(panel.labels)}
    for i, query in enumerate(panel.queries):
        ref = chr(ord("A") + i)
        # Grafana names the value field "Value" when a panel has one query, "Value #<refId>" otherwise.
        for name in (f"Value #{ref}", *(("Value",) if len(panel.queries) == 1 else ())):
            if query.column:
                rename[name] = query.column
                order[name] = len(panel.labels) + i
            else:
                exclude[name] = True
    organize = {"id": "organize", "options": {"excludeByName": exclude, "indexByName": order,
                                              "renameByName": rename}}
    return ([{"id": "merge", "options": {}}] if len(panel.queries) > 1 else []) + [organize]


def _column_overrides(panel: Panel) -> list[dict[str, Any]]:
    out = []
    for query in panel.queries:
        properties: list[dict[str, Any]] = []
        if query.column and query.unit:
            properties.append({"id": "unit", "value": query.unit})
        if query.column and query.steps:
            properties += [{"id": "thresholds", "value": {"mode": "absolute", "steps": _steps(query.steps)}},
                           {"id": "custom.cellOptions", "value": {"type": "color-text"}}]
        if properties:
            out.append({"matcher": {"id": "byName", "options": query.column}, "properties": properties})
    return out


def _clean(value: Any) -> Any:
    """Without None values, recursively (threshold steps keep their null base value)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None or k == "value"}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _modern(data: dict[str, Any]) -> dict[str, Any]:
    """Only what current Grafana's dashboard schema knows: legacy grafanalib keys and nulls removed."""
    out = {k: v for k, v in data.items() if k in _DASHBOARD_KEYS}
    out["timepicker"] = {"refresh_intervals": data["timepicker"]["refresh_intervals"]}
    out["panels"] = [_modern_panel(panel) for panel in data["panels"]]
    variables = []
    for variable in data["templating"]["list"]:
        v = {k: value for k, value in variable.items() if k in _VARIABLE_KEYS}
        current = v["current"]["value"]
        v["current"] = ({"selected": True, "text": ["All"], "value": ["$__all"]} if current == "$__all"
                        else {"selected": True, "text": current, "value": current})
        variables.append(v)
    out["templating"] = {"list": variables}
    return _clean(out)  # type: ignore[no-any-return]


def _modern_panel(data: dict[str, Any]) -> dict[str, Any]:
    panel = {k: v for k, v in data.items() if k in _PANEL_KEYS}
    if panel["type"] == "row":
        return {"collapsed": False, "gridPos": panel["gridPos"], "id": panel["id"], "panels": [],
                "title": panel["title"], "type": "row"}
    field = data["fieldConfig"]
    defaults = {k: v for k, v in field["defaults"].items() if k in _FIELD_KEYS}
    if not defaults.get("custom"):
        defaults.pop("custom", None)
    panel["fieldConfig"] = {"defaults": defaults, "overrides": field.get("overrides", [])}
    table = panel["type"] == "table"
    if table:  # cellOptions replaced displayMode in Grafana 10
        defaults.get("custom", {}).pop("displayMode", None)
    panel["targets"] = [{**{k: v for k, v in t.items() if k in _TARGET_KEYS and not (table and k == "legendFormat")},
                         "range": not t["instant"], "editorMode": "code"} for t in data["targets"]]
    if not panel.get("transformations"):
        panel.pop("transformations", None)
    return panel
