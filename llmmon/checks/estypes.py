"""The ILM policy and index template type-checked against the official Elasticsearch client's TypeScript types.

npm `@elastic/elasticsearch` carries the request types generated from the Elasticsearch API specification.
Each body is written as a TypeScript object literal of its request type (`IlmPutLifecycleRequest`,
`IndicesPutIndexTemplateRequest`, with the `name` the request path carries) and `tsc --noEmit --strict` checks it:
unknown keys, phases, actions and mapping types fail. What the types cannot say (phase order, growing min_age,
duration syntax, the policy bound to the right indices) stays with checks/elasticsearch.py.

`make tools` installs the pinned packages in the tool cache (~/.cache/llmmon-tools/estypes-<versions>); llmmon
finds them through $LLMMON_ES_TYPES (a folder
holding node_modules/@elastic/elasticsearch and node_modules/.bin/tsc).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from llmmon import tools
from llmmon.checks import passes

ES_CLIENT = "9.5.1"  # @elastic/elasticsearch, Elasticsearch 9.x API
TYPESCRIPT = "5.9.3"
TIMEOUT_S = 120
INSTALL_HINT = (f"npm install --prefix DIR @elastic/elasticsearch@{ES_CLIENT} typescript@{TYPESCRIPT}, then set "
                "LLMMON_ES_TYPES=DIR")
REQUESTS = {"ilm-policy": "IlmPutLifecycleRequest", "index-template": "IndicesPutIndexTemplateRequest"}
ARGS = ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext"]
PASSED = "tsc-passed"  # the build cache's kind for the bodies tsc passed
_ERROR = re.compile(r"^(?P<file>[^(\s]+)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<message>.*)$")


def find() -> Path | None:
    """The folder with the installed types and tsc: $LLMMON_ES_TYPES, or None (also when node is missing, or
    the variable is "off")."""
    folder = os.environ.get("LLMMON_ES_TYPES")
    if not folder or folder == "off" or not shutil.which("node"):
        return None
    path = Path(folder)
    return path if tsc(path).exists() else None


def tsc(folder: Path) -> Path:
    """The TypeScript compiler npm installed in `folder`."""
    return folder / "node_modules" / ".bin" / "tsc"


def typescript(kind: str, name: str, body: dict[str, Any]) -> str:
    """A module declaring `body` (with its request's `name`) as the request type of `kind`."""
    literal = json.dumps({"name": name, **body}, indent=2, sort_keys=True, ensure_ascii=False)
    return (f'import type {{ estypes }} from "@elastic/elasticsearch";\n\n'
            f"export const request: estypes.{REQUESTS[kind]} = {literal};\n")


def remembered_as(folder: Path, bodies: dict[str, tuple[str, dict[str, Any]]]) -> str | None:
    """The build cache's entry for a pass of tsc on `bodies` (checks/passes.py): tsc, the node that runs it, the
    versions of the two packages and of every package installed beside them (npm's record of the folder,
    `node_modules/.package-lock.json`, which every `npm install` or `npm update` there rewrites: the client's
    types import those of its dependencies), the arguments and every source it is given. None (not remembered)
    for a folder without that record."""
    modules = folder / "node_modules"
    try:
        packages = [(modules / name / "package.json").read_text(encoding="utf-8")
                    for name in ("typescript", "@elastic/elasticsearch")]
        packages.append((modules / ".package-lock.json").read_text(encoding="utf-8"))
    except OSError:
        return None
    node = passes.identity("node", version=["--version"])
    checker = passes.identity(tsc(folder), also=None if node is None else "\0".join([node, *packages]))
    sources = [part for kind, (name, body) in sorted(bodies.items())
               for part in (f"{kind}.ts", typescript(kind, name, body))]
    return passes.key(PASSED, checker, *ARGS, *sources)


def check(folder: Path, bodies: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
    """tsc's errors for each `kind → (name, body)`, as `<kind>.ts:line:col: TSxxxx message`; [] when all pass."""
    folder = folder.resolve()
    with tempfile.TemporaryDirectory(prefix="llmmon-estypes-", dir=folder) as scratch:
        files = []
        for kind, (name, body) in sorted(bodies.items()):
            path = Path(scratch) / f"{kind}.ts"
            path.write_text(typescript(kind, name, body), encoding="utf-8")
            files.append(path.name)
        args = [str(tsc(folder)), *ARGS, *files]
        try:
            done = tools.run(args, timeout=TIMEOUT_S, cwd=Path(scratch))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [f"tsc could not run: {exc}"]
    if done.returncode == 0:
        return []
    found = []
    for line in (done.stdout + done.stderr).splitlines():
        match = _ERROR.match(line.strip())
        if match:
            found.append(f"{match['file']}:{match['line']}:{match['col']}: {match['code']} {match['message']}")
        elif line.strip() and found:  # tsc continues a message on indented lines
            found[-1] += " " + line.strip()
    return found or [f"tsc failed: {(done.stdout + done.stderr).strip()[:2000]}"]
