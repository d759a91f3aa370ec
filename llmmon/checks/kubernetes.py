"""Every manifest under kubernetes/, checked offline the way `kubectl apply -k` would meet it.

- core kinds against the API schemas of the spec's Kubernetes version (kubernetes-validate, strict: unknown
  fields are errors); custom resources against the project's CRD models (crds.py); any other kind is a finding;
- what neither checks: object names (Services are DNS-1035 labels), label syntax, a namespace on every
  namespaced object (kustomization.yaml sets none), duplicates, and the size kubectl's client-side apply can
  store in its last-applied annotation;
- the kustomization lists exactly the manifests, and `kubectl kustomize` builds them when kubectl is present;
- every DCGM field the generated files query is one the generated dcgm-exporter collects.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmmon import tools
from llmmon.checks import crds, passes
from llmmon.checks.result import CheckResult
from llmmon.emit import gpu_exporter, kustomize
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

TIMEOUT_S = 120
KUBECTL_HINT = ("install it: https://kubernetes.io/docs/tasks/tools/, or on Debian/Ubuntu apt-get install "
                "kubernetes-client; or set LLMMON_KUBECTL")
APPLY_LIMIT = 262_144  # bytes: kubectl's client-side apply keeps the whole object in one annotation of this size
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass", "RuntimeClass",
    "StorageClass", "PersistentVolume", "IngressClass", "APIService", "CSIDriver", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
})
_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^(?=.{1,63}$)[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED = re.compile(r"^((?=.{1,253}/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^((?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NAME_RULES = {"Namespace": (_DNS1123_LABEL, "a DNS-1123 label"), "Service": (_DNS1035_LABEL, "a DNS-1035 label")}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: reading is 10x faster
_DOCUMENT = re.compile(r"^apiVersion:", re.MULTILINE)  # one top-level apiVersion per object kustomize prints
_DCGM_FIELD = re.compile(r"\bDCGM_FI_[A-Z0-9_]*[A-Z0-9]\b")  # a whole field name, not `DCGM_FI_PROF_*`


@dataclass
class Document:
    """One object of a manifest file."""

    file: str  # path in the bundle, e.g. kubernetes/llm-platform-gpu-exporter.yaml
    body: dict[str, Any]

    @property
    def where(self) -> str:
        """`file: Kind namespace/name`, the prefix of every finding about the object."""
        meta = self.body.get("metadata") or {}
        ns = f"{meta['namespace']}/" if isinstance(meta, dict) and meta.get("namespace") else ""
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        return f"{self.file}: {self.body.get('kind', '?')} {ns}{name}"


def checker() -> str | None:
    """What the check runs on besides llmmon: kubernetes-validate's release (its API schemas) and kubectl (None:
    it cannot be told apart)."""
    from importlib import metadata

    try:
        release = metadata.version("kubernetes-validate")
    except metadata.PackageNotFoundError:
        release = "not installed"
    binary = kubectl()
    tool = passes.identity(binary) if binary else "no kubectl"
    return None if tool is None else f"kubernetes-validate {release}\0{tool}"


def check(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """All the checks above, on the bundle as written under `root`."""
    result = CheckResult()
    documents = load(root, bundle, result)
    if not documents:
        return result
    _kustomization(root, bundle, result)
    _metadata(documents, result)
    _core(documents, plan.spec.kubernetes.version, result)
    _custom(documents, result)
    _dcgm_fields(root, bundle, plan, result)
    _adapter(documents, bundle, result)
    _kubectl(root / kustomize.FOLDER, len(documents), result)
    return result


def load(root: Path, bundle: Bundle, result: CheckResult) -> list[Document]:
    """The objects of every manifest (the kustomization excepted); unreadable documents become findings."""
    documents = []
    for rel in kustomize.resources(list(bundle.files)):
        path = f"{kustomize.FOLDER}{rel}"
        try:
            bodies = list(yaml.load_all((root / path).read_text(encoding="utf-8"), Loader=_LOADER))
        except yaml.YAMLError as exc:
            result.findings.append(f"{path}: not valid YAML: {exc}")
            continue
        for index, body in enumerate(b for b in bodies if b is not None):
            if not isinstance(body, dict) or not all(body.get(k) for k in ("apiVersion", "kind", "metadata")):
                result.findings.append(f"{path}: document {index + 1} is not a Kubernetes object "
                                       "(apiVersion, kind and metadata are required)")
                continue
            documents.append(Document(path, body))
    return documents


def _kustomization(root: Path, bundle: Bundle, result: CheckResult) -> None:
    stray = sorted(p for p in bundle.files if p.startswith(kustomize.FOLDER) and p != kustomize.KUSTOMIZATION
                   and not p.endswith(kustomize.MANIFEST_SUFFIXES))
    for rel in stray:
        result.findings.append(f"{rel}: `kubectl apply -k` ignores it: only YAML manifests are applied")
    written = root / kustomize.KUSTOMIZATION
    listed = (yaml.safe_load(written.read_text(encoding="utf-8")) or {}).get("resources", []) \
        if written.exists() else []
    expected = kustomize.resources(list(bundle.files))
    if sorted(listed) != expected:
        missing, extra = sorted(set(expected) - set(listed)), sorted(set(listed) - set(expected))
        result.findings.append(f"{kustomize.KUSTOMIZATION}: must list every manifest"
                               + (f"; missing: {', '.join(missing)}" if missing else "")
                               + (f"; not generated: {', '.join(extra)}" if extra else ""))
    else:
        result.passed.append(f"kustomization: lists all {len(expected)} manifests")


def _metadata(documents: list[Document], result: CheckResult) -> None:
    before = len(result.findings)
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for doc in documents:
        meta, kind = doc.body["metadata"], doc.body["kind"]
        if not isinstance(meta, dict):
            result.findings.append(f"{doc.where}: metadata is not a mapping")
            continue
        name, namespace = str(meta.get("name", "")), meta.get("namespace")
        pattern, what = _NAME_RULES.get(kind, (_SUBDOMAIN, "a DNS-1123 subdomain"))
        if not pattern.fullmatch(name):
            result.findings.append(f"{doc.where}: metadata.name {name!r} is not {what}")
        if kind in CLUSTER_SCOPED and namespace:
            result.findings.append(f"{doc.where}: a {kind} is cluster-scoped and takes no namespace")
        elif kind not in CLUSTER_SCOPED and not (isinstance(namespace, str) and _DNS1123_LABEL.fullmatch(namespace)):
            result.findings.append(f"{doc.where}: metadata.namespace is required (the kustomization sets none, "
                                   "so kubectl would use the current context's namespace)")
        template = ((doc.body.get("spec") or {}).get("template") or {}).get("metadata") or {}
        for where, labels in (("metadata.labels", meta.get("labels")),
                              ("spec.template.metadata.labels", template.get("labels"))):
            for key, value in (labels or {}).items():
                if not _QUALIFIED.fullmatch(str(key)) or not isinstance(value, str) or \
                        not _LABEL_VALUE.fullmatch(value):
                    result.findings.append(f"{doc.where}: {where}: {key}={value!r} is not a valid label")
        annotations = meta.get("annotations") or {}
        if sum(len(str(k)) + len(str(v)) for k, v in annotations.items()) > APPLY_LIMIT:
            result.findings.append(f"{doc.where}: metadata.annotations exceed 256 KiB")
        size = len(json.dumps(doc.body, separators=(",", ":")))
        if size > APPLY_LIMIT:
            result.findings.append(f"{doc.where}: {size} bytes; `kubectl apply` (client-side) stores the object in "
                                   f"an annotation of at most {APPLY_LIMIT} bytes: split it or apply --server-side")
        seen[(str(doc.body["apiVersion"]).split("/")[0], kind, str(namespace or ""), name)] += 1
    for (_, kind, namespace, name), count in sorted(seen.items()):
        if count > 1:
            result.findings.append(f"{kustomize.FOLDER}: {kind} {namespace}/{name} is generated {count} times")
    if len(result.findings) == before:
        result.passed.append(f"kubernetes objects: {len(documents)} with valid names, labels and namespaces, "
                             "each small enough for `kubectl apply`")


def _core(documents: list[Document], version: str, result: CheckResult) -> None:
    try:
        import kubernetes_validate
        from kubernetes_validate import utils
    except ImportError:
        result.missing.append("kubernetes-validate is not installed (pip install kubernetes-validate): core kinds "
                              "not checked against the API schemas")
        return
    available = sorted({utils.major_minor(v) for v in utils.all_versions()}, key=lambda v: int(v.split(".")[1]))
    if version not in available:
        result.findings.append(f"kubernetes.version {version}: kubernetes-validate {utils.__version__} knows "
                               f"{available[0]} to {available[-1]}")
        return
    core = [d for d in documents if not crds.known(d.body)]
    before = len(result.findings)
    for doc in core:
        try:
            kubernetes_validate.validate(doc.body, version, strict=True)
        except utils.SchemaNotFoundError:
            result.findings.append(f"{doc.where}: no schema for {doc.body['apiVersion']} {doc.body['kind']} in "
                                   f"Kubernetes {version} nor among llmmon's CRD models")
        except utils.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(object)"
            result.findings.append(f"{doc.where}: {path}: {exc.message}")
    if len(result.findings) == before:
        kinds = Counter(str(d.body["kind"]) for d in core)
        result.passed.append(f"kubernetes-validate --strict (Kubernetes {version}): {len(core)} objects valid "
                             f"({_tally(kinds)})")


def _custom(documents: list[Document], result: CheckResult) -> None:
    custom = [d for d in documents if crds.known(d.body)]
    before = len(result.findings)
    for doc in custom:
        result.findings += [f"{doc.where}: {problem}" for problem in crds.problems(doc.body)]
    if custom and len(result.findings) == before:
        result.passed.append(f"CRD models: {len(custom)} custom resources valid "
                             f"({_tally(Counter(str(d.body['kind']) for d in custom))})")


def _dcgm_fields(root: Path, bundle: Bundle, plan: Plan, result: CheckResult) -> None:
    collected = gpu_exporter.collected_metrics(plan)
    if not collected:
        return
    missing: dict[str, set[str]] = {}
    for path in bundle.files:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
        for field in set(_DCGM_FIELD.findall(text)) - collected:
            missing.setdefault(field, set()).add(path)
    for field, paths in sorted(missing.items()):
        hint = "set gpu_exporter.profiling: true" if field.startswith("DCGM_FI_PROF_") else \
            "add it to DCGM_FIELDS in llmmon/emit/gpu_exporter.py"
        result.findings.append(f"{', '.join(sorted(paths))}: query {field}, which the generated dcgm-exporter "
                               f"does not collect ({hint})")
    if not missing:
        result.passed.append(f"dcgm-exporter: collects every DCGM field the rules and dashboards query "
                             f"({len(collected)} fields)")


def _adapter(documents: list[Document], bundle: Bundle, result: CheckResult) -> None:
    """The prometheus-adapter rules llmmon writes for HPAs (llmmon.emit.autoscaling)."""
    from llmmon.checks import prometheus_adapter
    from llmmon.emit.autoscaling import ADAPTER_CONFIG

    recorded = {rule["record"] for group in bundle.ruleset.groups for rule in group["rules"] if "record" in rule}
    configs = [d for d in documents if d.body.get("kind") == "ConfigMap"
               and ADAPTER_CONFIG in (d.body.get("data") or {}) and d.body["metadata"]["name"].endswith("-adapter")]
    for doc in configs:
        try:
            config = yaml.safe_load(doc.body["data"][ADAPTER_CONFIG])
        except yaml.YAMLError as exc:
            result.findings.append(f"{doc.where}: prometheus-adapter config is not valid YAML: {exc}")
            continue
        found = prometheus_adapter.problems(config, recorded)
        result.findings += [f"{doc.where}: prometheus-adapter config: {problem}" for problem in found]
        if not found:
            rules = len(config.get("externalRules") or [])
            result.passed.append(f"prometheus-adapter: {rules} external rules, each reading a recorded series")


def kubectl() -> str | None:
    """The kubectl to run: $LLMMON_KUBECTL, else the one on PATH, else None."""
    return os.environ.get("LLMMON_KUBECTL") or shutil.which("kubectl")


def _kubectl(folder: Path, expected: int, result: CheckResult) -> None:
    binary = kubectl()
    if not binary:
        result.missing.append(f"kubectl is not installed: `kubectl kustomize` not run ({KUBECTL_HINT})")
        return
    try:
        done = tools.run([binary, "kustomize", str(folder)], timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        result.findings.append(f"{kustomize.FOLDER}: kubectl kustomize could not run: {exc}")
        return
    if done.returncode != 0:
        result.findings.append(f"{kustomize.FOLDER}: kubectl kustomize failed: {done.stderr.strip()}")
        return
    built = len(_DOCUMENT.findall(done.stdout))
    if built != expected:
        result.findings.append(f"{kustomize.FOLDER}: kubectl kustomize built {built} objects, expected {expected}")
    else:
        result.passed.append(f"kubectl kustomize: builds {built} objects")


def _tally(kinds: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
