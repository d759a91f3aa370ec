"""llmmon.instrument's metrics: the series the openai-compatible preset reads, per request and per stream."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from helpers import ROOT, plan_from_text
from llmmon import contract, metrics_check
from llmmon.engines import PRESETS
from llmmon.instrument import ClientError, LLMMetrics, SpecProblem, buckets, gpu

PRESET = PRESETS["openai-compatible"]
SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: inst}
defaults:
  namespace: llm
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, ttft: {threshold: 0.5s, target: 95}}
  alerts:
    latency_p99: {threshold: 3s, tier: warning}
    ttft_p95: {threshold: 0.8s, tier: warning}
models:
  - {name: chat, served_name: org/chat, gpus: {type: T4, count: 1}}
  - {name: code, engine: vllm, gpus: {type: T4, count: 1}, slo: {latency: {threshold: 1s, target: 99}}}
alert_tiers:
  critical: {for: 2m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 10m, receiver: pager}
receivers:
  pager: {slack: {api_url_file: /etc/am/slack}}
costs: {gpu_hourly: {T4: 0.35}}
gpu_exporter: {kind: none}
"""


def _value(m: LLMMetrics, name: str, **labels: str) -> float:
    value = m.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _requests(m: LLMMetrics, model: str = "m") -> dict[str, float]:
    return {s: _value(m, contract.REQUESTS, model=model, status=s) for s in contract.STATUSES}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_the_preset_reads_exactly_the_names_and_labels_the_emitter_writes(spec: Path) -> None:
    m = LLMMetrics.from_spec(spec)
    gpu.register(m.registry, "org/chat", lambda: {"0": 50.0})
    with m.request("org/chat") as req:
        req.tokens(input=3, output=4)
        req.first_token()
    samples, _ = metrics_check.parse(generate_latest(m.registry).decode())

    def labelled(name: str, wanted: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
        return [s for s in metrics_check._series(samples, name) if all(s.get(k) == v for k, v in wanted)
                and s.get(PRESET.model_label or "") == "org/chat"]

    assert labelled(PRESET.requests.metric, PRESET.ok_labels)
    assert labelled(PRESET.errors.metric, PRESET.errors.labels)
    for counter in (PRESET.input_tokens, PRESET.output_tokens):
        assert counter is not None and labelled(counter.metric, counter.labels)
    for histogram in (PRESET.latency, PRESET.ttft):
        assert histogram is not None and labelled(histogram.metric + "_bucket", ())
    for gauge in (*PRESET.gauges.values(), PRESET.gpu_utilization):
        assert gauge is not None and labelled(gauge.metric, ())
    assert {s["gpu_id"] for s in samples[contract.GPU_UTILIZATION]} == {"0"}
    # every status the emitter writes is one the rules classify: counted as a request, an error only when "error"
    statuses = {s["status"] for s in samples[PRESET.requests.metric]}
    assert statuses == set(contract.STATUSES) and dict(PRESET.errors.labels)["status"] == contract.ERROR


def test_an_instrumented_service_passes_check_metrics_for_its_spec(spec: Path, tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, SPEC)
    m = LLMMetrics.from_spec(spec)  # series exist from the start: a fresh process passes before any traffic
    rows = metrics_check.check(plan, generate_latest(m.registry).decode(), "chat")
    assert rows and not [r for r in rows if r.status in metrics_check.FAILING], metrics_check.render(rows)
    bare = LLMMetrics(latency_buckets=(0.1, 1.0, 5.0))  # 2s is no bound: check-metrics must say so
    with bare.request("org/chat"):
        pass
    rows = metrics_check.check(plan, generate_latest(bare.registry).decode(), "chat")
    assert [r.signal for r in rows if r.status == metrics_check.NOT_A_BUCKET] == ["latency SLO"]


def test_bucket_bounds_contain_every_threshold_of_the_spec_and_the_contract_s_own(spec: Path) -> None:
    m = LLMMetrics.from_spec(spec)
    assert {2.0, 3.0, 1.0} <= set(m.latency_buckets)  # SLO, latency_p99 alert, vllm model's SLO too
    assert {0.5, 0.8} <= set(m.ttft_buckets)
    assert set(contract.LATENCY_BUCKETS) <= set(m.latency_buckets)
    assert set(contract.TTFT_BUCKETS) <= set(m.ttft_buckets)
    assert {1.5, 2.5, 2.25, 3.75} <= set(m.latency_buckets)  # spread around the thresholds
    assert list(m.latency_buckets) == sorted(set(m.latency_buckets))
    assert buckets.from_spec(spec).models == ("org/chat",)  # only the models that read the seed contract


def test_a_spec_with_errors_is_refused_with_its_diagnostics(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("availability: 99.9", "availabilty: 99.9"), encoding="utf-8")
    with pytest.raises(SpecProblem, match=r"bad\.yaml:\d+:\d+: .*availabilty"):
        LLMMetrics.from_spec(path)


def test_a_block_that_raises_is_an_error_and_the_exception_comes_back_unchanged() -> None:
    m = LLMMetrics(tracing_enabled=False)
    boom = KeyError("gpu fell off the bus")
    with pytest.raises(KeyError) as caught, m.request("m"):
        raise boom
    assert caught.value is boom
    assert _requests(m) == {"success": 0, "error": 1, "client_error": 0}
    assert _value(m, contract.DURATION + "_count", model="m") == 1
    assert _value(m, contract.RUNNING, model="m") == 0


def test_client_errors_spend_no_error_budget() -> None:
    m = LLMMetrics(tracing_enabled=False)
    with pytest.raises(ClientError), m.request("m"):
        raise ClientError("prompt too long")
    with m.request("m") as req:
        req.client_error()
    with m.request("m") as req:
        req.tokens(input=5, output=7)
    assert _requests(m) == {"success": 1, "error": 0, "client_error": 2}
    assert _value(m, contract.TOKENS, model="m", type="input") == 5
    assert _value(m, contract.TOKENS, model="m", type="output") == 7


def _tokens(n: int) -> Iterator[str]:
    yield from (f"t{i}" for i in range(n))


def test_a_stream_records_ttft_once_tokens_and_tokens_per_second() -> None:
    m = LLMMetrics(tracing_enabled=False)
    seen = []
    for item in m.stream("m", _tokens(5), input_tokens=3):
        seen.append(item)
        assert _value(m, contract.TTFT + "_count", model="m") == 1  # at the first item, not at the end
        assert _value(m, contract.RUNNING, model="m") == 1
    assert seen == [f"t{i}" for i in range(5)]
    assert _requests(m)["success"] == 1
    assert _value(m, contract.TOKENS, model="m", type="output") == 5
    assert _value(m, contract.TOKENS, model="m", type="input") == 3
    assert _value(m, contract.TOKENS_PER_SECOND + "_count", model="m") == 1
    assert _value(m, contract.RUNNING, model="m") == 0


def test_a_stream_counts_tokens_as_told() -> None:
    m = LLMMetrics(tracing_enabled=False)
    assert list(m.stream("m", ["ab", "cde"], count=len)) == ["ab", "cde"]
    assert _value(m, contract.TOKENS, model="m", type="output") == 5


def test_a_stream_closed_early_is_a_cancellation_not_an_error() -> None:
    m = LLMMetrics(tracing_enabled=False)
    stream = m.stream("m", _tokens(10))
    assert next(stream) == "t0"
    stream.close()  # GeneratorExit: the caller went away
    assert _requests(m) == {"success": 0, "error": 0, "client_error": 1}
    assert _value(m, contract.DURATION + "_count", model="m") == 0  # a truncated duration is no latency
    assert _value(m, contract.TTFT + "_count", model="m") == 1
    assert _value(m, contract.RUNNING, model="m") == 0


def test_a_stream_whose_source_fails_is_an_error_re_raised_unchanged() -> None:
    m = LLMMetrics(tracing_enabled=False)
    boom = RuntimeError("CUDA error")

    def source() -> Iterator[int]:
        yield 1
        raise boom

    with pytest.raises(RuntimeError) as caught:
        list(m.stream("m", source()))
    assert caught.value is boom
    assert _requests(m) == {"success": 0, "error": 1, "client_error": 0}


async def _atokens(n: int, gate: asyncio.Event | None = None) -> AsyncIterator[str]:
    for i in range(n):
        if gate is not None and i == 1:
            await gate.wait()
        yield f"t{i}"


def test_async_streams_record_like_sync_ones_and_cancellation_is_not_an_error() -> None:
    m = LLMMetrics(tracing_enabled=False)

    async def main() -> None:
        assert [x async for x in m.stream("m", _atokens(4))] == ["t0", "t1", "t2", "t3"]
        closed = m.stream("m", _atokens(4))
        assert await closed.__anext__() == "t0"
        await closed.aclose()  # aclose(): GeneratorExit inside the wrapper

        async def consume(gate: asyncio.Event) -> None:
            async for _ in m.stream("m", _atokens(4, gate)):
                pass

        gate = asyncio.Event()
        task = asyncio.create_task(consume(gate))
        while _value(m, contract.TTFT + "_count", model="m") < 3:
            await asyncio.sleep(0)
        task.cancel()  # CancelledError while waiting for the second token
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _requests(m) == {"success": 1, "error": 0, "client_error": 2}
    assert _value(m, contract.TOKENS, model="m", type="output") == 4 + 1 + 1
    assert _value(m, contract.RUNNING, model="m") == 0


def test_async_with_requests_and_the_waiting_gauge() -> None:
    m = LLMMetrics(tracing_enabled=False)

    async def one(i: int) -> None:
        async with m.queued("m"):
            await asyncio.sleep(0)
        async with m.request("m") as req:
            await asyncio.sleep(0)
            req.tokens(output=i)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(200)))

    asyncio.run(main())
    assert _requests(m)["success"] == 200
    assert _value(m, contract.TOKENS, model="m", type="output") == sum(range(200))
    assert _value(m, contract.WAITING, model="m") == 0 and _value(m, contract.RUNNING, model="m") == 0


def test_threads_sharing_one_instance_lose_no_count() -> None:
    m = LLMMetrics(tracing_enabled=False)
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(500):
            model = f"m{i % 3}"  # series of new models are created while other threads write
            try:
                with m.request(model) as req:
                    req.tokens(input=1, output=2)
                    if (t + i) % 10 == 0:
                        raise ValueError("bad")
            except ValueError:
                pass

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    total = {s: sum(_requests(m, f"m{k}")[s] for k in range(3)) for s in contract.STATUSES}
    assert total == {"success": 3600, "error": 400, "client_error": 0}
    assert sum(_value(m, contract.TOKENS, model=f"m{k}", type="output") for k in range(3)) == 8000
    assert all(_value(m, contract.RUNNING, model=f"m{k}") == 0 for k in range(3))


def test_without_nvml_one_log_line_and_no_gpu_series(caplog: pytest.LogCaptureFixture) -> None:
    m = LLMMetrics(tracing_enabled=False)
    reader, _ = gpu.nvml_reader()
    with caplog.at_level(logging.INFO, logger="llmmon.instrument"):
        found = m.track_gpus("m")
    if reader is not None:  # a machine with NVIDIA GPUs: one series per GPU, nothing logged
        assert found and not caplog.records
        assert m.registry.get_sample_value(contract.GPU_UTILIZATION, {"model": "m", "gpu_id": "0"}) is not None
        return
    assert found is False  # nvidia-ml-py is installed (dev extra); without the NVML library it says so once
    assert [r.getMessage() for r in caplog.records] == [
        f"NVML is not available (NVML Shared Library Not Found): {contract.GPU_UTILIZATION} is not exported"]
    assert contract.GPU_UTILIZATION not in generate_latest(m.registry).decode()


def test_gpu_utilisation_is_read_at_each_scrape_per_gpu() -> None:
    m = LLMMetrics(tracing_enabled=False)
    readings = iter([{"0": 40.0, "1": 90.0}, {"0": 41.0}])
    assert gpu.register(m.registry, "m", lambda: next(readings))
    assert _value(m, contract.GPU_UTILIZATION, model="m", gpu_id="1") == 90.0
    assert _value(m, contract.GPU_UTILIZATION, model="m", gpu_id="0") == 41.0


def test_the_example_spec_validates_with_the_instrument_buckets() -> None:
    m = LLMMetrics.from_spec(ROOT / "specs" / "example.yaml")
    assert 2.0 in m.latency_buckets and 1.0 in m.ttft_buckets


def test_the_overhead_bench_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import instrument

    assert instrument.main(["--requests", "50", "--tokens", "20", "--streams", "5", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("bare prometheus_client calls", "metrics.request(), tracing off", "OTel SDK spans",
                "hand-written TTFT + count", "metrics.stream()"):
        assert row in out
