"""Benchmark: what `llmmon validate` costs for fleets of 1, 10 and 100 models, and how much of it is promtool.

`llmmon validate` is what CI runs before every apply: it generates the output in a temporary folder and runs every
checker on it. Each size runs as its own process (the installed `llmmon` of this environment, with whatever checkers
the environment provides); the table shows its wall time, its CPU time with every checker it started (user +
system of the process and its children), and the CPU time of `llmmon validate --skip promtool` on the same spec:
the difference is promtool (`check rules` and the generated tests, the part that grows with the fleet). Each
measurement starts from an empty build cache; "again" is the CPU time of `llmmon validate` once more on the same
spec with the cache the first run filled (dashboards built, and promtool tests, checkov scans and tsc checks passed
before, are not redone). The fleets are those of bench/generate.py (half vLLM, half OpenAI-compatible, objectives
and GPU types varied).
Run: .venv/bin/python -m bench.validate [--sizes 1,10,100] [--repeat 1] [--spec specs/example.yaml]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench.generate import cases, timed


def measure(spec: Path, work: Path, llmmon: str) -> tuple[float, float, float, float, int]:
    """(wall s, CPU s) of `llmmon validate` into an empty cache, CPU s of the same without the promtool checks, CPU
    s of a second run on the cache the first filled, and the number of promtool test scenarios it ran."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    env = {**os.environ, "LLMMON_CACHE": str(cache)}
    wall, cpu, full = timed([llmmon, "validate", str(spec)], work, env)
    _, again, second = timed([llmmon, "validate", str(spec)], work, env)
    _, rest, partial = timed([llmmon, "validate", "--skip", "promtool", str(spec)], work,
                             {**os.environ, "LLMMON_CACHE": "off"})
    for done, how in ((full, ""), (second, " (again)"), (partial, " --skip promtool")):
        if done.returncode != 0:
            raise SystemExit(f"llmmon validate{how} {spec} failed:\n{done.stdout}{done.stderr}")
    shutil.rmtree(cache)
    scenarios = re.search(r"assertions in (\d+) scenarios passed", full.stdout)
    return wall, cpu, rest, again, int(scenarios.group(1)) if scenarios else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--spec", action="append", default=[], type=Path, help="also time this spec")
    args = parser.parse_args()
    llmmon = str(Path(sys.executable).parent / "llmmon")
    rows: list[tuple[str, float, float, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="llmmon-bench-validate-") as tmp:
        work = Path(tmp)
        for label, spec in cases(args.sizes, args.spec, work):
            runs = [measure(spec, work, llmmon) for _ in range(args.repeat)]
            wall, cpu, rest, again = (statistics.median(r[i] for r in runs) for i in range(4))
            rows.append((label, wall, cpu, rest, again, runs[0][4]))
    print(f"{'models':>12} | {'wall (s)':>8} | {'CPU (s)':>7} | {'CPU without promtool (s)':>24} | "
          f"{'CPU again (s)':>13} | {'promtool scenarios':>18}")
    print(f"{'-' * 12}-|-{'-' * 8}-|-{'-' * 7}-|-{'-' * 24}-|-{'-' * 13}-|-{'-' * 18}")
    for label, wall, cpu, rest, again, scenarios in rows:
        print(f"{label:>12} | {wall:>8.2f} | {cpu:>7.2f} | {rest:>24.2f} | {again:>13.2f} | {scenarios:>18}")
    promtool = os.environ.get("LLMMON_PROMTOOL") or shutil.which("promtool")
    print(f"- promtool: {promtool}; {os.cpu_count()} cores; 1-minute load average at the end: "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
