"""The text of `llmmon engines`: per engine and version, the series behind each signal and what they count."""

from __future__ import annotations

from llmmon.engines import PRESETS, Preset, describe, edge, variants


def _summary(presets: list[Preset]) -> list[str]:
    signals = [s for s in presets[0].signals() if s != "model"]
    width = max(len(p.name) for p in presets) + 2
    lines = ["signal".ljust(14) + "".join(p.name.ljust(width) for p in presets).rstrip()]
    for signal in signals:
        # "yes?": named from the engine's source, not yet checked against a real /metrics page
        cells = ["mean" if p.signals()[signal].startswith("mean only") else
                 ("yes?" if signal in p.unverified else "yes") if p.signals()[signal] else "-"
                 for p in presets]
        lines.append(signal.ljust(14) + "".join(c.ljust(width) for c in cells).rstrip())
    lines.append("(yes: checked on a real /metrics page or the engine's exposition sample; yes?: named from the "
                 "engine's source or docs, not yet seen on a real page)")
    return lines


def _variant(p: Preset, default: bool) -> list[str]:
    version = f" {p.version}" if p.version else ""
    tag = " (default)" if default and p.version else ""
    lines = [f"{p.name}{version}{tag}: {p.title}"]
    if p.version:
        lines.append(f"  {'select':<14} engine: {p.name}, engine_version: \"{p.version}\"")
    for signal, metric in p.signals().items():
        mark = " (unverified: from source or docs)" if metric and signal in p.unverified else ""
        lines.append(f"  {signal:<14} {metric or '-'}{mark}")
    if p.latency:
        lines.append(f"  {'e2e buckets':<14} {' '.join(f'{b:g}' for b in p.latency.buckets)}")
    if p.ttft:
        lines.append(f"  {'ttft buckets':<14} {' '.join(f'{b:g}' for b in p.ttft.buckets)}")
    if p.semantics:
        lines.append(f"  {'a request':<14} {p.semantics.request}")
        lines.append(f"  {'an error':<14} {p.semantics.error}")
        before = ("exists at 0 before the first error" if p.semantics.errors_before_first else
                  "appears on the first error; absent reads as 0 while requests exist")
        lines.append(f"  {'error series':<14} {before}")
    if p.engine_errors:
        lines.append(f"  {'engine errors':<14} {describe(p.engine_errors)} (secondary, not in the rules)")
    pages = [f"tests/expositions/real/{f}" for f in p.verified] or ["no real page checked"]
    lines += [f"  {'verified' if i == 0 else '':<14} {page}" for i, page in enumerate(pages)]
    if p.notes:
        lines.append(f"  {'notes':<14} {p.notes}")
    return lines


def listing() -> str:
    """Every preset: a signal table, then each engine version with its series, meanings and verification."""
    presets = list(PRESETS.values())
    lines = _summary(presets)
    for preset in presets:
        for v in variants(preset.name):
            lines += ["", *_variant(v, v is preset)]
    lines += ["", "errors at the edge (any engine; spec `errors: {source: ...}`): requests and errors from",
              *(f"  {source:<14} {edge.resolve(source, '<name>', '<namespace>', None, None).describe()}"
                for source in ("ingress-nginx", "istio", "http"))]
    return "\n".join(lines) + "\n"
