"""Value types of the spec: durations, percentages, names, URLs, quantities, as pydantic Annotated types with
their messages; and Strict, the base of every spec section."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from llmmon.units import Duration as DurationValue
from llmmon.units import parse_percent

ENGINES = ("openai-compatible", "vllm", "tgi", "sglang", "triton", "otel-genai")
TIERS = ("critical", "warning", "info")
ROLES = ("sre", "ml-engineer", "finops")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MODEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$")
IDENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
# A prefix is a DNS-1123 subdomain (dot-separated labels, none starting or ending in "-") of at most 253
# characters, as Kubernetes checks it; the name after it at most 63.
LABEL_KEY = re.compile(r"^((?=[^/]{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
URL = re.compile(r"^https?://[^\s\"'<>{}|\\^`]+$")
# C0 and C1 controls, YAML's extra line breaks, and the two non-characters Go's YAML (kubectl) refuses even escaped
MAX_NUMBER = 1e12
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def _duration(value: Any) -> DurationValue:
    try:
        return DurationValue.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _percent(value: Any) -> float:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise PydanticCustomError("percent", str(exc)) from None


def _plain_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number", f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:  # prices times GPU counts must stay finite
        raise PydanticCustomError("number", f"{value!r} is not a finite number of at most {MAX_NUMBER:g}")
    return number


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError("text", f"expected text ({what}), got {value!r}")
        if not regex.fullmatch(value):
            raise PydanticCustomError("pattern", f"{value!r} is not {what}")
        return value

    return PlainValidator(check)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("text", f"expected text, got {value!r}")
    if not value.strip():
        raise PydanticCustomError("text", "must not be empty")
    if CONTROL.search(value):
        raise PydanticCustomError("text", "must not contain newlines or control characters")
    if len(value) > 1024:
        raise PydanticCustomError("text", "is longer than 1024 characters")
    return value


Duration = Annotated[
    DurationValue,
    PlainValidator(_duration),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(y|w|d|h|m|s|ms))+$",
                    "description": "Prometheus duration: 500ms, 0.25s, 2s, 5m, 1h30m, 30d"}),
]
Percent = Annotated[
    float,
    PlainValidator(_percent),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[0-9.]+\s*%?\s*$"}],
                    "description": "a percentage: 99.9 or \"99.9%\" (never a 0-1 ratio)"}),
]
Number = Annotated[float, PlainValidator(_plain_number), WithJsonSchema({"type": "number"})]
Text = Annotated[str, PlainValidator(_text), WithJsonSchema({"type": "string", "minLength": 1})]


def _version(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise PydanticCustomError("version", f"quote the version, e.g. \"0.10\": YAML reads {value!r} as a number, "
                                  "and 0.10 as 0.1")
    return _text(value)


EngineVersion = Annotated[str, PlainValidator(_version), WithJsonSchema({"type": "string", "minLength": 1})]
DnsLabel = Annotated[str, _pattern(DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-'; 63 at most)"),
                     WithJsonSchema({"type": "string", "pattern": DNS_LABEL.pattern})]
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # Service names: a DNS-1123 label led by a letter
SpecName = Annotated[str, _pattern(DNS_1035, "a DNS-1035 label (a lowercase letter, then lowercase letters, digits, "
                                             "'-'; 63 at most): it prefixes object names, Services included"),
                     WithJsonSchema({"type": "string", "pattern": DNS_1035.pattern})]
ModelName = Annotated[str, _pattern(MODEL_NAME, "a model name (lowercase letters, digits, '-', '.', '_'; "
                                                 "63 at most, starting and ending alphanumeric)"),
                      WithJsonSchema({"type": "string", "pattern": MODEL_NAME.pattern})]
Ident = Annotated[str, _pattern(IDENT, "a name of letters, digits, '-', '.', '_' (63 at most)"),
                  WithJsonSchema({"type": "string", "pattern": IDENT.pattern})]
Url = Annotated[str, _pattern(URL, "an http(s) URL without spaces, quotes or braces"),
                WithJsonSchema({"type": "string", "pattern": URL.pattern})]
LabelKey = Annotated[str, _pattern(LABEL_KEY, "a Kubernetes label key"),
                     WithJsonSchema({"type": "string", "pattern": LABEL_KEY.pattern})]
LabelValue = Annotated[str, _pattern(LABEL_VALUE, "a Kubernetes label value (letters, digits, '-', '_', '.'; "
                                                   "63 at most; quote numbers and yes/no)"),
                       WithJsonSchema({"type": "string", "pattern": LABEL_VALUE.pattern})]
def _at_least(low: float, inclusive: bool) -> Any:
    def check(value: Any) -> float:
        number = _plain_number(value)
        if number < low or (number == low and not inclusive):
            kind = "greater_than_equal" if inclusive else "greater_than"
            bound = f"{'or equal to ' if inclusive else ''}{low:g}"
            raise PydanticCustomError(kind, f"Input should be greater than {bound}")
        return number

    return PlainValidator(check)


# Bounds checked in the validator, so the JSON Schema carries them as real keywords (minimum, exclusiveMinimum).
Positive = Annotated[float, _at_least(0, inclusive=False), WithJsonSchema({"type": "number", "exclusiveMinimum": 0})]
NonNegative = Annotated[float, _at_least(0, inclusive=True), WithJsonSchema({"type": "number", "minimum": 0})]
Price = Positive
Tier = Literal["critical", "warning", "info"]
Role = Literal["sre", "ml-engineer", "finops"]
# Kubernetes values (issue 5): container port name (IANA_SVC_NAME), quantity, image repository and tag.
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")


def _port_ref(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and PORT_NAME.fullmatch(value):
        return value
    raise PydanticCustomError("port", f"{value!r} is neither a port number (1-65535) nor a container port name "
                              "(15 characters at most: lowercase letters, digits and '-', with a letter)")


PortRef = Annotated[str | int, PlainValidator(_port_ref), WithJsonSchema({"anyOf": [
    {"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "pattern": PORT_NAME.pattern}]})]
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
_IMAGE = r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?){0,8}$"
_TAG = r"^(?!latest$)([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$"
_PATH = r"^/[A-Za-z0-9._~/-]{0,200}$"
_VERSION = r"^1\.[0-9]{2}$"
Quantity = Annotated[str, _pattern(re.compile(_QUANTITY), "a quantity such as 100m, 0.5, 128Mi or 1Gi"),
                     WithJsonSchema({"type": "string", "pattern": _QUANTITY})]
Image = Annotated[str, _pattern(re.compile(_IMAGE), "an image repository without tag, e.g. "
                                "registry.example.com/nvidia/dcgm-exporter"),
                  WithJsonSchema({"type": "string", "pattern": _IMAGE})]
ImageTag = Annotated[str, _pattern(re.compile(_TAG), "a pinned image tag or sha256:<digest> (never `latest`)"),
                     WithJsonSchema({"type": "string", "pattern": _TAG})]
UrlPath = Annotated[str, _pattern(re.compile(_PATH), "an absolute path such as /metrics"),
                    WithJsonSchema({"type": "string", "pattern": _PATH})]
HostPath = Annotated[str, _pattern(re.compile(_PATH), "an absolute path on the node"),
                     WithJsonSchema({"type": "string", "pattern": _PATH})]
KubeVersion = Annotated[str, _pattern(re.compile(_VERSION), "a Kubernetes minor version such as \"1.34\""),
                        WithJsonSchema({"type": "string", "pattern": _VERSION})]


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, values are immutable.

    defer_build: pydantic builds the validator of MonitoringSpec (every section inlined) on first use, instead of
    one validator per section class at import that only MonitoringSpec's would then use (~25 ms per run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)
