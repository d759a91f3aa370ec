"""Benchmark: time and peak memory of `llmmon generate` for fleets of 1, 10, 100 and 1000 models.

Each size runs in a fresh interpreter (so peak RSS is that run's alone), a few times; the table shows
the median wall time of load + resolve + build + write, its median CPU time (user + system: what the run costs,
whatever else the machine is doing) and the peak resident memory of the process. These are a first generate:
the build cache (llmmon/buildcache.py) is empty. `again` is the CPU time of the same run once more with the cache
that run filled and the same output folder (what the pre-commit hook, `--check` in CI and an edit that leaves the
dashboards as they were cost); `CLI again` is the whole `llmmon generate SPEC -o DIR` process then, interpreter
start and command-line parsing (typer) included, which the other columns leave out.
llmmon's modules are compiled to bytecode first, as pip does when it installs a package: without that, an
environment with PYTHONDONTWRITEBYTECODE set (or a read-only checkout) would recompile every module in every run
(~0.1 s CPU), which says nothing about llmmon. `--spec FILE` (repeatable) adds a row for an existing spec.
Run: .venv/bin/python bench/generate.py [--sizes 1,10,100,1000] [--repeat 3] [--spec specs/example.yaml]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

HEAD = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: bench, namespace: monitoring, labels: {release: kube-prometheus-stack},
           runbook_base_url: "https://runbooks.example.com/llm"}
cluster: bench-1
defaults:
  engine: vllm
  namespace: llm-serving
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, ttft: {threshold: 1s, target: 95},
        min_request_rate: 0.1}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: chat}
  info: {for: 30m, receiver: chat}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/am/pd}}
  chat: {slack: {api_url_file: /etc/am/slack}}
costs: {currency: USD, gpu_hourly: {H100: 2.5, A100: 1.1}, cpu_core_hourly: 0.05}
models:
"""

CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    t0, c0 = time.perf_counter(), time.process_time()
    from llmmon.compiler import load
    from llmmon.generate import build
    from llmmon import output
    plan, diags = load(Path(sys.argv[1]))
    assert plan is not None, [d.render() for d in diags]
    bundle = build(plan)
    output.write(Path(sys.argv[2]), plan.name, bundle.files)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    c = bundle.counts
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "cpu": cpu, "rss_mb": rss_mb,
                      "rules": c.recording + c.alerting, "static": c.static, "alerting": c.alerting,
                      "bytes": sum(len(t) for t in bundle.files.values())}))
""")


def spec_text(models: int) -> str:
    """A spec with `models` models: engines, GPU types, objectives and one override alternate."""
    lines = [HEAD]
    for i in range(models):
        engine = "vllm" if i % 2 == 0 else "openai-compatible"
        gpu = "H100" if i % 3 else "A100"
        lines.append(f"  - {{name: model-{i:04d}, engine: {engine}, gpus: {{type: {gpu}, count: {1 + i % 8}}}"
                     + (", slo: {availability: 99.5}" if i % 5 == 0 else "") + "}\n")
    return "".join(lines)


def cases(sizes: str, specs: list[Path], folder: Path) -> list[tuple[str, Path]]:
    """(label, spec file) of each existing spec, then of a fleet written into `folder` for each size of "1,10,..."."""
    out = [(path.name, path.resolve()) for path in specs]
    for size in (int(s) for s in sizes.split(",") if s):
        spec = folder / f"bench-{size}.yaml"
        spec.write_text(spec_text(size), encoding="utf-8")
        out.append((str(size), spec))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spec", action="append", default=[], type=Path, help="also time this spec")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "llmmon", quiet=1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmmon-bench-") as tmp:
        for label, spec in cases(args.sizes, args.spec, Path(tmp)):
            runs, again, cli = [], [], []
            for r in range(args.repeat):
                out = Path(tmp) / f"out-{label}-{r}"
                env = {**os.environ, "LLMMON_CACHE": str(Path(tmp) / f"cache-{label}-{r}")}
                runs.append(_child(spec, out, env))
                again.append(_child(spec, out, env)["cpu"])
                cli.append(_process_cpu([str(Path(sys.executable).parent / "llmmon"), "generate", str(spec), "-o",
                                         str(out)], env))
            best = runs[0]
            rows.append((label, statistics.median(r["seconds"] for r in runs),
                         statistics.median(r["cpu"] for r in runs), statistics.median(again),
                         statistics.median(cli), max(r["rss_mb"] for r in runs),
                         best["rules"], best["static"], best["alerting"], best["bytes"] / 1e6))
    first = max(7, *(len(row[0]) for row in rows))  # a spec's file name can be longer than "models"
    print(f"{'models':>{first}} | {'generate (s)':>12} | {'CPU (s)':>7} | {'again, CPU (s)':>14} | "
          f"{'CLI again, CPU (s)':>18} | {'peak RSS (MB)':>13} | {'rules':>6} | {'static':>6} | {'alerts':>6} | "
          f"{'output (MB)':>11}")
    print("|".join("-" * (width + 2) for width in (first, 12, 7, 14, 18, 13, 6, 6, 6, 11))[1:-1])
    for label, seconds, cpu, warm, whole, rss, rules, static, alerts, mb in rows:
        print(f"{label:>{first}} | {seconds:>12.3f} | {cpu:>7.3f} | {warm:>14.3f} | {whole:>18.3f} | {rss:>13.1f} | "
              f"{rules:>6} | {static:>6} | {alerts:>6} | {mb:>11.2f}")


def _child(spec: Path, out: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(spec), str(out)], capture_output=True, text=True,
                          check=True, cwd=ROOT, env=env)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float,
                                                                                  subprocess.CompletedProcess[str]]:
    """Wall and CPU seconds (the process and every child it waited for) of one run."""
    c0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    return time.perf_counter() - t0, _children_cpu() - c0, done


def _process_cpu(command: list[str], env: dict[str, str]) -> float:
    """User + system CPU seconds of one run of `command`, which must succeed."""
    _, cpu, done = timed(command, ROOT, env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    return cpu


if __name__ == "__main__":
    main()
