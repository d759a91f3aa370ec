"""`kubernetes/kustomization.yaml`: every generated manifest, so `kubectl apply -k out/kubernetes` applies them all.

It is built last, from the files the other emitters produced, so a new emitter's manifests are listed without
a change here. It sets no `namespace:`: every object states its own (the exporter runs in its namespace, the
monitoring objects in metadata.namespace), and kustomize's namespace transformer would move them all.
"""

from __future__ import annotations

from llmmon.emit.kube import manifest
from llmmon.model import Plan

FOLDER = "kubernetes/"
KUSTOMIZATION = f"{FOLDER}kustomization.yaml"
MANIFEST_SUFFIXES = (".yaml", ".yml")


def resources(files: dict[str, str] | list[str]) -> list[str]:
    """The manifests under kubernetes/ (paths relative to it, sorted), the kustomization itself excepted."""
    return sorted(p.removeprefix(FOLDER) for p in files
                  if p.startswith(FOLDER) and p.endswith(MANIFEST_SUFFIXES) and p != KUSTOMIZATION)


def emit(plan: Plan, head: str, files: dict[str, str]) -> dict[str, str]:
    """The kustomization listing every manifest of `files` (nothing when there is none)."""
    listed = resources(files)
    if not listed:
        return {}
    return {KUSTOMIZATION: manifest(head, [{"apiVersion": "kustomize.config.k8s.io/v1beta1",
                                            "kind": "Kustomization", "resources": listed}])}
