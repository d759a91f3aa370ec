"""Secret files of Alertmanager receivers: where the Prometheus Operator mounts Secrets, and the Secret key an
AlertmanagerConfig reads for a file outside that layout."""

from __future__ import annotations

import re

from llmmon import spec as s

SECRETS_DIR = "/etc/alertmanager/secrets"
_SECRET_PATH = re.compile(rf"^{re.escape(SECRETS_DIR)}/([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?)/([-._a-zA-Z0-9]+)$")


def secret_files(receiver: s.Receiver) -> list[tuple[tuple[str, str], str]]:
    """(field path inside the receiver, file path) of every secret file a receiver reads."""
    out: list[tuple[tuple[str, str], str]] = []
    if receiver.pagerduty:
        for field in ("routing_key_file", "service_key_file"):
            if path := getattr(receiver.pagerduty, field):
                out.append((("pagerduty", field), path))
    if receiver.slack:
        out.append((("slack", "api_url_file"), receiver.slack.api_url_file))
    return out


def secret_ref(path: str) -> tuple[str, str] | None:
    """(Secret name, key) of a file where the Prometheus Operator mounts Secrets, else None."""
    match = _SECRET_PATH.fullmatch(path)
    return (match.group(1), match.group(3)) if match else None


def fallback_secret(spec_name: str, path: str) -> tuple[str, str]:
    """The Secret key an AlertmanagerConfig reads for a secret file outside the operator's layout."""
    key = re.sub(r"[^-._a-zA-Z0-9]", "-", path.rsplit("/", 1)[-1]).strip(".") or "key"  # a Secret key's characters
    return f"{spec_name}-alerting", key
