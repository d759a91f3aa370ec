"""What an alert tells the person it wakes: summaries naming the model and the SLO, descriptions with threshold,
window, current value and budget left, a runbook per alert (an anchor per SLO) and a link to the SRE dashboard
filtered on the alert's model and cluster.

Summaries and descriptions are Prometheus alert templates, expanded at each evaluation. The budget left and the
objective are read with `query` from the series the rules record, so the text never disagrees with the dashboards.
"""

from __future__ import annotations

from llmmon.model import Plan
from llmmon.promql import SPEC_LABEL

MODEL = "{{ $labels.model }}"
SLO = "{{ $labels.slo }}"
BUDGET = "slo:error_budget_remaining:ratio"
OBJECTIVE = "slo:objective:ratio"
SLO_TITLES = {"availability": "availability", "latency": "latency", "ttft": "time to first token",
              "itl": "inter-token latency"}


def _lookup(plan: Plan, metric: str, unknown: str = "unknown") -> str:
    """A template printing this model's (and SLO's) value of a recorded series, as a percentage."""
    query = f'printf "{metric}{{{SPEC_LABEL}=%q,model=%q,slo=%q}}" "{plan.name}" $labels.model $labels.slo'
    return f"{{{{ with {query} | query }}}}{{{{ . | first | value | humanizePercentage }}}}{{{{ else }}}}{unknown}" \
           "{{ end }}"


def burn(plan: Plan, factor: str, long_: str, short: str, spent: str) -> dict[str, str]:
    """Summary and description of an ErrorBudgetBurn pair."""
    return {
        "summary": f"{MODEL} {SLO}: error budget burning over {factor}× too fast",
        "description": (
            f"The {SLO} error ratio of {MODEL} is {{{{ $value | humanizePercentage }}}} over the last {long_} "
            f"and still above the threshold over {short}: more than {factor}× the rate that spends the whole "
            f"{plan.slo_window} error budget (objective {_lookup(plan, OBJECTIVE)}). This pair fires when {spent} "
            f"of the budget is gone; budget left over {plan.slo_window}: {_lookup(plan, BUDGET)}."),
    }


def links(plan: Plan, alert: str, per_slo: bool = False) -> dict[str, str]:
    """runbook_url (per alert; per SLO by anchor) and dashboard_url (the SRE dashboard on this model)."""
    out = {}
    if plan.runbook_base_url:
        out["runbook_url"] = f"{plan.runbook_base_url}/{alert.lower()}" + (f"#{SLO}" if per_slo else "")
    if url := dashboard_url(plan):
        out["dashboard_url"] = url
    return out


def dashboard_url(plan: Plan) -> str | None:
    """The SRE dashboard filtered on the alert's model (and cluster), when a Grafana URL and that board exist."""
    if not plan.grafana_url or "sre" not in plan.spec.dashboards.roles:
        return None
    from llmmon.emit.grafana import uid  # grafana reads the recorded names of the prometheus emitter, which reads this

    query = f"var-model={MODEL}" + ("&var-cluster={{ $labels.cluster }}" if plan.cluster else "")
    return f"{plan.grafana_url}/d/{uid(plan.name, 'sre')}?{query}"
