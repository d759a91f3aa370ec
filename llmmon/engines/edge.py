"""Requests and errors measured in front of the engine: by the ingress, the mesh or plain HTTP instrumentation.

A crashed or wedged engine answers nothing and counts nothing; only the proxy in front of it sees the 502/503s.
A model with an `errors` source reads its request and error rates from these series instead of the engine's.
Names and labels are the projects' own: ingress-nginx `nginx_ingress_controller_requests{ingress, status}`,
Istio `istio_requests_total{reporter, destination_workload, destination_workload_namespace, response_code}`.
Errors are 5xx answers; 4xx are the client's.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmmon.engines.base import Label, Matcher

FIVE_XX = "5..|5xx"  # numeric codes (500, 503) and prometheus-fastapi-instrumentator's grouped "5xx"


@dataclass(frozen=True)
class Edge:
    """One model's request and error series at the edge: the selector of every request, the matcher that makes
    one an error, and the labels generated test series carry for an answered and a failed request."""

    source: str
    metric: str
    labels: tuple[Label, ...]  # equality matchers naming the model's traffic
    by_pod: bool  # selected by the model's namespace and pod regex as well (plain HTTP instrumentation)
    error: Matcher
    ok_synth: Label
    error_synth: Label

    def describe(self) -> str:
        """The series for people: `metric{labels}`, errors `{error matcher}`."""
        inner = "{" + ", ".join(f'{k}="{v}"' for k, v in self.labels) + "}" if self.labels else ""
        where = " + namespace and pod regex" if self.by_pod else ""
        return f'{self.metric}{inner}{where}, errors {self.error[0]}{self.error[1]}"{self.error[2]}"'


def resolve(source: str, name: str, namespace: str, metric: str | None, status_label: str | None) -> Edge:
    """The edge series of one model; `name` is the ingress (ingress-nginx) or workload (istio) serving it."""
    if source == "ingress-nginx":
        return Edge(source, "nginx_ingress_controller_requests", (("ingress", name),), False,
                    ("status", "=~", FIVE_XX), ("status", "200"), ("status", "503"))
    if source == "istio":
        labels = (("reporter", "destination"), ("destination_workload", name),
                  ("destination_workload_namespace", namespace))
        return Edge(source, "istio_requests_total", labels, False, ("response_code", "=~", FIVE_XX),
                    ("response_code", "200"), ("response_code", "503"))
    status = status_label or "status"
    return Edge(source, metric or "http_requests_total", (), True, (status, "=~", FIVE_XX), (status, "200"),
                (status, "503"))
