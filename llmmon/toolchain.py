"""The current releases of the tools llmmon's output runs on, built from Go modules into a cache outside the repo.

`make tools` runs `python3 -m llmmon.toolchain build`: Prometheus 3 (promtool, prometheus), Alertmanager (amtool,
alertmanager), Sloth (the benchmark's SLO generator to beat) and a minimal OpenTelemetry Collector holding exactly
the components of the generated collector config, each pinned to one module version. A binary already in the cache
is never rebuilt and the build needs no network then: a second `make tools`, or CI's fresh clone on the same
machine, runs no Go command at all. Debian's Prometheus 2.42 and Alertmanager 0.25 (on PATH) stay the oldest
supported versions; the tests run against both (tests/versions.py).

The cache is $LLMMON_TOOLS_CACHE, else $XDG_CACHE_HOME/llmmon-tools, else ~/.cache/llmmon-tools:
`bin/<tool>-<module version>/<command>` holds the binaries, `gomod/` and `gobuild/` Go's module and build caches.
`python3 -m llmmon.toolchain path otelcol` prints one binary's path; `... env` prints the LLMMON_* variables
(LLMMON_OTELCOL: the collector `llmmon validate` runs `validate --config` with).

Standard library only: it runs before the virtual environment exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GoTool:
    """Commands built with `go install module/cmd/X@version`."""

    name: str
    release: str  # the version users know the tool by
    module: str
    version: str  # the Go module version
    commands: tuple[str, ...]
    # Folders a `//go:embed` needs that the module zip lacks (web UIs built by npm in the project's release
    # process): with any, the commands are built from a copy of the module with a placeholder page in each.
    embeds: tuple[str, ...] = ()
    version_var: str = ""  # the Go variable `--version` prints, set at link time
    tags: str = ""  # Go build tags

    def go_flags(self) -> list[str]:
        """`-ldflags` that stamp the release into the binary, and the build tags."""
        return ([f"-ldflags=-X {self.version_var}={self.release}"] if self.version_var else []) + \
            ([f"-tags={self.tags}"] if self.tags else [])


_COMMON_VERSION = "github.com/prometheus/common/version.Version"
# remove_all_sd: without the cloud service discoveries (Azure, AWS, GCE, Kubernetes, ...), which are most of the
# compile time; llmmon's tests scrape static targets only.
PROMETHEUS = GoTool("prometheus", "3.16.0", "github.com/prometheus/prometheus", "v0.316.0", ("promtool", "prometheus"),
                    version_var=_COMMON_VERSION, tags="remove_all_sd")
# The Alertmanager server embeds its web UI (ui/app/dist), which the module does not carry: llmmon needs its API.
ALERTMANAGER = GoTool("alertmanager", "0.35.0", "github.com/prometheus/alertmanager", "v0.35.0",
                      ("amtool", "alertmanager"), embeds=("ui/app/dist/elm", "ui/app/dist/mantine"),
                      version_var=_COMMON_VERSION)
SLOTH = GoTool("sloth", "0.16.0", "github.com/slok/sloth", "v0.16.0", ("sloth",))
GO_TOOLS = (PROMETHEUS, ALERTMANAGER, SLOTH)

# The collector: core and contrib at one release (core's stable modules 1.x go with 0.x: v1.67.0 with v0.161.0).
OTELCOL_RELEASE = "0.161.0"
OTELCOL_CORE_STABLE = "v1.67.0"
OTELCOL_COMMAND = "otelcol-llmmon"
_CORE = "go.opentelemetry.io/collector"
_CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
# Exactly what llmmon/emit/otel.py configures: otlp in, memory_limiter + tail_sampling + resource + batch, otlp out,
# the health_check extension. A component the config names but the build lacks fails `validate --config`.
OTELCOL_COMPONENTS = {
    "receivers": [f"{_CORE}/receiver/otlpreceiver v{OTELCOL_RELEASE}"],
    "processors": [f"{_CORE}/processor/memorylimiterprocessor v{OTELCOL_RELEASE}",
                   f"{_CORE}/processor/batchprocessor v{OTELCOL_RELEASE}",
                   f"{_CONTRIB}/processor/tailsamplingprocessor v{OTELCOL_RELEASE}",
                   f"{_CONTRIB}/processor/resourceprocessor v{OTELCOL_RELEASE}"],
    "exporters": [f"{_CORE}/exporter/otlpexporter v{OTELCOL_RELEASE}"],
    "extensions": [f"{_CONTRIB}/extension/healthcheckextension v{OTELCOL_RELEASE}"],
    "providers": [f"{_CORE}/confmap/provider/envprovider {OTELCOL_CORE_STABLE}",
                  f"{_CORE}/confmap/provider/fileprovider {OTELCOL_CORE_STABLE}",
                  f"{_CORE}/confmap/provider/yamlprovider {OTELCOL_CORE_STABLE}"],
}

# Environment variables naming a binary: set, they win over the cache (LLMMON_PROMTOOL and LLMMON_AMTOOL keep
# meaning "the promtool/amtool llmmon validate runs", Debian's by default; these name the current releases).
ENV = {"promtool": "LLMMON_PROMTOOL3", "prometheus": "LLMMON_PROMETHEUS3", "amtool": "LLMMON_AMTOOL_CURRENT",
       "alertmanager": "LLMMON_ALERTMANAGER_CURRENT", "sloth": "LLMMON_SLOTH", OTELCOL_COMMAND: "LLMMON_OTELCOL"}
ALIASES = {"otelcol": OTELCOL_COMMAND}


def cache() -> Path:
    """The folder the tools are built into."""
    if os.environ.get("LLMMON_TOOLS_CACHE"):
        return Path(os.environ["LLMMON_TOOLS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmmon-tools"


def folder(tool: GoTool) -> Path:
    """Where one pinned tool's binaries live."""
    return cache() / "bin" / f"{tool.name}-{tool.version}"


def otelcol_folder() -> Path:
    """Where the collector (and the builder that made it) live."""
    return cache() / "bin" / f"otelcol-v{OTELCOL_RELEASE}"


def cached(command: str) -> Path:
    """The cache path of a command, built or not."""
    command = ALIASES.get(command, command)
    if command in (OTELCOL_COMMAND, "builder"):
        return otelcol_folder() / command
    for tool in GO_TOOLS:
        if command in tool.commands:
            return folder(tool) / command
    raise KeyError(f"no pinned tool provides {command!r}")


def find(command: str) -> Path | None:
    """The binary to run for a command of a current release: its environment variable, else the cache; None
    when neither holds an executable file."""
    command = ALIASES.get(command, command)
    override = os.environ.get(ENV.get(command, ""))
    path = Path(override) if override else cached(command)
    return path if path.is_file() and os.access(path, os.X_OK) else None


# -- building -----------------------------------------------------------------------------------------------------

def _go_env() -> dict[str, str]:
    root = cache()
    return {**os.environ, "GOMODCACHE": str(root / "gomod"), "GOCACHE": str(root / "gobuild"),
            "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false", "GOTELEMETRY": "off"}


def _run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=cwd, env=env or _go_env(), check=True, stdin=subprocess.DEVNULL)


def _install(tool: GoTool) -> None:
    """`go install` every command of a tool into a fresh folder, then move it into place: an interrupted build
    leaves no half-filled folder that a later run would take for done."""
    target = folder(tool)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{tool.name}-") as tmp:
        env = {**_go_env(), "GOBIN": tmp}
        if tool.embeds:
            _build_from_source(tool, Path(tmp), env)
        else:
            _run(["go", "install", *tool.go_flags(), *[f"{tool.module}/cmd/{c}@{tool.version}" for c in tool.commands]],
                 env=env)
        if target.exists():
            shutil.rmtree(target)
        os.chmod(tmp, 0o755)
        os.rename(tmp, target)
        os.mkdir(tmp)  # TemporaryDirectory removes it again


def _build_from_source(tool: GoTool, out: Path, env: dict[str, str]) -> None:
    """`go build` in a writable copy of the module (the module cache is read-only), embeds stubbed."""
    listing = subprocess.run(["go", "mod", "download", "-json", f"{tool.module}@{tool.version}"], env=env,
                             check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    source = Path(json.loads(listing.stdout)["Dir"])
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{tool.name}-src-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(source, copy)
        for path in (copy, *copy.rglob("*")):
            if path.is_dir():
                path.chmod(0o755)
        for embed in tool.embeds:
            (copy / embed).mkdir(parents=True, exist_ok=True)
            (copy / embed / "index.html").write_text("<!doctype html><title>built without its web UI</title>\n",
                                                     encoding="utf-8")
        _run(["go", "build", *tool.go_flags(), "-o", str(out) + "/", *[f"./cmd/{c}" for c in tool.commands]],
             cwd=copy, env=env)


def manifest(output: Path) -> str:
    """The collector builder's manifest (YAML, written by hand: no PyYAML before the virtual environment)."""
    lines = ["dist:", f"  name: {OTELCOL_COMMAND}", "  description: OpenTelemetry Collector with llmmon's components",
             f"  output_path: {output}", f"  version: {OTELCOL_RELEASE}"]
    for kind, modules in OTELCOL_COMPONENTS.items():
        lines.append(f"{kind}:")
        lines.extend(f"  - gomod: {module}" for module in modules)
    return "\n".join(lines) + "\n"


def _collector() -> None:
    target = otelcol_folder()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".otelcol-") as tmp:
        work = Path(tmp)
        env = {**_go_env(), "GOBIN": str(work)}
        _run(["go", "install", f"{_CORE}/cmd/builder@v{OTELCOL_RELEASE}"], env=env)
        (work / "manifest.yaml").write_text(manifest(work / "src"), encoding="utf-8")
        _run([str(work / "builder"), f"--config={work / 'manifest.yaml'}"], cwd=work, env=env)
        os.rename(work / "src" / OTELCOL_COMMAND, work / OTELCOL_COMMAND)
        shutil.rmtree(work / "src")
        if target.exists():
            shutil.rmtree(target)
        os.chmod(work, 0o755)
        os.rename(work, target)
        os.mkdir(work)


def build() -> int:
    """Build whatever the cache lacks; report the time each build took."""
    if shutil.which("go") is None:
        print("llmmon.toolchain: `go` is not installed (Go 1.26 or newer builds the pinned tools)", file=sys.stderr)
        return 1
    for tool in GO_TOOLS:
        if all(cached(c).is_file() for c in tool.commands):
            continue
        started = time.monotonic()
        _install(tool)
        print(f"built {tool.name} {tool.release} ({tool.module}@{tool.version}) in "
              f"{time.monotonic() - started:.0f} s", flush=True)
    if not cached(OTELCOL_COMMAND).is_file():
        started = time.monotonic()
        _collector()
        print(f"built the OpenTelemetry Collector {OTELCOL_RELEASE} in {time.monotonic() - started:.0f} s", flush=True)
    return 0


def main(argv: list[str]) -> int:
    """build | path COMMAND (the binary to run; fails when not built) | where COMMAND (its cache path) | env"""
    if argv[:1] == ["build"]:
        return build()
    if argv[:1] == ["path"] and len(argv) == 2:
        path = find(argv[1])
        if path is None:
            print(f"{argv[1]} is not built: run `make tools`", file=sys.stderr)
            return 1
        print(path)
        return 0
    if argv[:1] == ["where"] and len(argv) == 2:
        print(cached(argv[1]))
        return 0
    if argv[:1] == ["env"]:
        for command, name in ENV.items():
            print(f"{name}={cached(command)}")
        return 0
    print("usage: python3 -m llmmon.toolchain build | path COMMAND | where COMMAND | env", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
