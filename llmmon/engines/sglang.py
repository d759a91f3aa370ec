"""SGLang (`--enable-metrics`): `sglang:` series labelled `model_name` (current gauges also carry `tp_rank`).

Current SGLang counts requests (`sglang:num_requests_total`) and aborted ones
(`sglang:num_aborted_requests_total`); aborts are the closest signal of requests that did not complete and are
used as errors. The v0.4 pages have neither counter: there requests are the e2e histogram's `_count` (exposed by
every version) and no error series exists, so errors read 0 unless an edge `errors` source is set.
"""

from dataclasses import replace

from llmmon.engines.base import Counter, Gauge, Histogram, Preset, Semantics

TTFT_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0)
E2E_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
               400.0, 600.0, 1200.0, 1800.0, 2400.0)
# v0.4: vLLM-like bucket sets, checked on the page of SGLang's own docs (tests/expositions/real/sglang-0.4.txt).
TTFT_BUCKETS_04 = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                   15.0, 20.0, 25.0, 30.0)
E2E_BUCKETS_04 = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)

PRESET = Preset(
    name="sglang",
    title="SGLang (0.5 and later)",
    model_label="model_name",
    requests=Counter("sglang:num_requests_total"),
    errors=Counter("sglang:num_aborted_requests_total"),
    latency=Histogram("sglang:e2e_request_latency_seconds", E2E_BUCKETS),
    ttft=Histogram("sglang:time_to_first_token_seconds", TTFT_BUCKETS),
    input_tokens=Counter("sglang:prompt_tokens_total"),
    output_tokens=Counter("sglang:generation_tokens_total"),
    gauges={
        "running": Gauge("sglang:num_running_reqs"),
        "waiting": Gauge("sglang:num_queue_reqs"),
        "kv_cache": Gauge("sglang:token_usage"),
    },
    notes="errors are aborted requests (sglang:num_aborted_requests_total)",
    version="0.5",
    semantics=Semantics(
        request="a request the scheduler finished (sglang:num_requests_total)",
        error="an aborted request (sglang:num_aborted_requests_total)",
        errors_before_first=False,
        empty_errors="the aborted counter is labelled per model and appears on the first abort: absent means "
                     "none yet (read as 0 while requests exist)"),
    verified=("sglang-0.5.txt (fragment: every family, histograms reduced to one bucket upstream)",),
    markers=("sglang:num_requests_total",),
    itl=Histogram("sglang:inter_token_latency_seconds", (0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03,
                                                         0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0,
                                                         4.0, 6.0, 8.0)),
    phases=(("queue", "sglang:queue_time_seconds"),),
    spec_accept_gauge="sglang:spec_accept_rate",  # SchedulerMetricsCollector (sglang/srt/metrics/collector.py)
    unverified=("spec decode",),
)

V04 = replace(
    PRESET, title="SGLang 0.4", version="0.4",
    requests=Counter("sglang:e2e_request_latency_seconds_count"),
    errors=Counter("sglang:num_aborted_requests_total"),
    latency=Histogram("sglang:e2e_request_latency_seconds", E2E_BUCKETS_04),
    ttft=Histogram("sglang:time_to_first_token_seconds", TTFT_BUCKETS_04),
    notes="no request or abort counters: requests from the e2e histogram's count, errors only from an edge source",
    semantics=Semantics(
        request="a finished request, counted by the e2e latency histogram (_count)",
        error="none exposed (set an edge `errors` source)",
        errors_before_first=False,
        empty_errors="SGLang 0.4 has no aborted-request counter; errors read as 0"),
    verified=("sglang-0.4.txt (whole page, as the docs print it)",), markers=())

VERSIONS = {"0.4": V04, "0.5": PRESET}
