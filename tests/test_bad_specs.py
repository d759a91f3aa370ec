"""The corpus of bad specs: each file holds one mistake and says on its first line where it is reported.

The first line of every `tests/bad_specs/NN-name.yaml` is `# expect: LINE:COL: TEXT`: some error diagnostic
must render as `NN-name.yaml:LINE:COL: ...` and contain TEXT.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmmon.compiler import load
from llmmon.diagnostics import Diagnostic, Severity

CORPUS = Path(__file__).parent / "bad_specs"
HEADER = re.compile(r"^# expect: (?P<line>\d+):(?P<col>\d+): (?P<text>.+)$")

# Known llmmon bugs: files that state what llmmon should report but does not yet. The marks are strict,
# so a fix turns them into failures that ask for the entry to be removed.
ACCEPTED_BUT_BAD: dict[str, str] = {}
REPORTED_ELSEWHERE: dict[str, str] = {**ACCEPTED_BUT_BAD}


def _cases(known_bugs: dict[str, str]) -> list[object]:
    return [pytest.param(f, id=f.stem, marks=[pytest.mark.xfail(reason=known_bugs[f.stem], strict=True)]
                         if f.stem in known_bugs else []) for f in sorted(CORPUS.glob("*.yaml"))]


def _expectation(path: Path) -> tuple[int, int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = HEADER.match(first)
    assert match, f"{path.name}: first line must be `# expect: LINE:COL: text`, got {first!r}"
    return int(match["line"]), int(match["col"]), match["text"]


def _load(path: Path) -> tuple[object, list[Diagnostic]]:
    try:
        return load(path, display=path.name)
    except Exception as exc:  # the test's point: nothing may escape load()
        pytest.fail(f"{path.name}: load() raised {type(exc).__name__}: {exc}")


def test_the_corpus_has_at_least_thirty_cases() -> None:
    assert len(list(CORPUS.glob("*.yaml"))) >= 30


def test_every_corpus_file_is_named_and_states_its_expectation() -> None:
    for path in sorted(CORPUS.glob("*.yaml")):
        assert re.fullmatch(r"\d\d-[a-z0-9-]+", path.stem), path.name
        _expectation(path)
    assert set(REPORTED_ELSEWHERE) <= {p.stem for p in CORPUS.glob("*.yaml")}


@pytest.mark.parametrize("path", _cases(ACCEPTED_BUT_BAD))
def test_bad_spec_is_refused_without_a_plan(path: Path) -> None:
    plan, diagnostics = _load(path)
    assert plan is None
    assert any(d.severity is Severity.ERROR for d in diagnostics), [d.render() for d in diagnostics]


@pytest.mark.parametrize("path", _cases(REPORTED_ELSEWHERE))
def test_bad_spec_reports_its_line(path: Path) -> None:
    line, col, text = _expectation(path)
    _, diagnostics = _load(path)
    rendered = [d.render() for d in diagnostics if d.severity is Severity.ERROR]
    prefix = f"{path.name}:{line}:{col}: "
    assert any(r.startswith(prefix) and text in r for r in rendered), (
        f"expected an error starting {prefix!r} containing {text!r}; got:\n" + "\n".join(rendered))
