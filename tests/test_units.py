"""Durations, percentages and the YAML writer: small pieces everything else stands on."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from llmmon.promql import quote, regex_of
from llmmon.units import MAX_MS, Duration, parse_percent
from llmmon.yamlout import Rendered, dump


@pytest.mark.parametrize(("text", "ms", "canonical"), [
    ("500ms", 500, "500ms"), ("2s", 2000, "2s"), ("90m", 5_400_000, "1h30m"), ("30d", 2_592_000_000, "30d"),
    ("4w", 2_419_200_000, "28d"), ("1h30m", 5_400_000, "1h30m"), ("0.25s", 250, "250ms"), ("1.5m", 90_000, "1m30s"),
])
def test_durations_parse_to_milliseconds_and_print_canonically(text: str, ms: int, canonical: str) -> None:
    assert Duration.parse(text).ms == ms
    assert str(Duration.parse(text)) == canonical


@pytest.mark.parametrize(("value", "hint"), [
    ("2", "durations need a unit"), (2, "durations need a unit"), ("2 s", "is not a Prometheus duration"),
    ("1.5", "write 1.5s or 1500ms"), ("", "is not a Prometheus duration"), ("0.0001s", "whole number of ms"),
])
def test_bad_durations_say_what_to_write(value: object, hint: str) -> None:
    with pytest.raises(ValueError, match=hint.replace("ms", "milliseconds") if "whole" in hint else hint):
        Duration.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "expected"),
                         [(99.9, 99.9), ("99.9%", 99.9), ("1%", 1.0), (5, 5.0), (" 30 % ", 30.0)])
def test_percentages_accept_numbers_and_percent_strings(value: object, expected: float) -> None:
    assert parse_percent(value) == expected


@pytest.mark.parametrize("value", [True, None, "abc", "nan", [99], "inf%"])
def test_percentages_refuse_other_values(value: object) -> None:
    with pytest.raises(ValueError):
        parse_percent(value)


@given(st.integers(min_value=0, max_value=MAX_MS))
def test_every_duration_survives_printing_and_parsing(ms: int) -> None:
    assert Duration.parse(str(Duration(ms))).ms == ms


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**12, max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False, width=64) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@given(PLAIN)
def test_the_yaml_writer_round_trips_any_plain_data(value: object) -> None:
    assert yaml.safe_load(dump(value)) == value


# multi-line text (literal blocks, with empty lines) among the values, as in rule expressions
BLOCKS = st.recursive(
    PLAIN | st.lists(st.sampled_from(["a", "", "b c", "  d"]), min_size=2, max_size=5).map("\n".join),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@given(st.lists(BLOCKS, min_size=1, max_size=4), st.integers(min_value=0, max_value=3))
def test_rendered_yaml_placed_at_any_depth_is_what_the_writer_writes_there(items: list[object], depth: int) -> None:
    def nest(value: object) -> object:
        for level in range(depth):
            value = {f"k{level}": value}
        return value

    rendered = Rendered.join([Rendered([item]) for item in items])
    assert dump(nest(rendered)) == dump(nest(items))


@given(st.text(max_size=60))
def test_promql_strings_round_trip_through_json_style_escapes(text: str) -> None:
    quoted = quote(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    body = quoted[1:-1]
    assert '"' not in body.replace('\\"', "")
    assert "\n" not in quoted


def test_regex_alternations_match_only_the_names_given() -> None:
    import re

    pattern = regex_of(["llama-3.1-8b", "a+b", "x"])
    assert re.fullmatch(pattern, "llama-3.1-8b") and re.fullmatch(pattern, "a+b")
    assert not re.fullmatch(pattern, "llama-3x1-8b") and not re.fullmatch(pattern, "aab")
