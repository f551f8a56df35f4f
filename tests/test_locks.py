"""The two lock files: serving installs requirements.lock alone, the suite requirements-dev.lock.

Both stay exact (every line a `name==version` pin), the development lock pins every runtime
package at the runtime lock's version, and everything the served code imports comes from a
package the runtime lock pins, so `make run` on a fresh clone has what serving needs.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SERVED = ("server", "consent_api", "notifications")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)")


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(3)
    return pins


def _imported_top_levels() -> set[str]:
    names = set()
    for package in SERVED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - set(SERVED) - set(sys.stdlib_module_names)


def test_the_development_lock_pins_every_runtime_package_at_the_same_version():
    runtime, development = _pins("requirements.lock"), _pins("requirements-dev.lock")
    differ = {n: (v, development.get(n)) for n, v in runtime.items() if development.get(n) != v}
    assert differ == {}
    assert set(development) > set(runtime)  # the tools are there, and only there


def test_the_runtime_lock_leaves_the_development_tools_out():
    runtime = _pins("requirements.lock")
    for tool in ("pytest", "ruff", "schemathesis", "hypothesis", "import-linter"):
        assert tool not in runtime


def test_everything_the_served_code_imports_is_pinned_by_the_runtime_lock():
    runtime = _pins("requirements.lock")
    providers = packages_distributions()
    missing = {
        name: providers.get(name)
        for name in _imported_top_levels()
        if not any(canonicalize_name(d) in runtime for d in providers.get(name, []))
    }
    assert missing == {}
