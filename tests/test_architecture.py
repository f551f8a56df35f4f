"""The layers of the house hold, and a back-arrow breaks the build: `lint-imports` (run by
`make lint`) on the real tree, then on copies of it with one forbidden import added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("server", "consent_api", "notifications")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the three packages and the contracts, with `line` added to `module`."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{line}  # a back-arrow\n")
    return tmp_path


def test_the_tree_keeps_every_import_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        pytest.param(
            "consent_api.consents.models",
            "import server.app",
            "Composition root, then domain, then notifications, then the core",
            id="domain-imports-the-composition-root",
        ),
        pytest.param(
            "notifications.outbox",
            "import consent_api.uses.models",
            "Composition root, then domain, then notifications, then the core",
            id="notifications-imports-the-domain",
        ),
        pytest.param(
            "server.db",
            "import consent_api.catalog",
            "Composition root, then domain, then notifications, then the core",
            id="core-imports-the-domain",
        ),
        pytest.param(
            "server.db",
            "import server.http",
            "The core in its own order",
            id="the-database-core-imports-the-http-core",
        ),
        pytest.param(
            "consent_api.orgs.models",
            "import consent_api.consents.models",
            "The domain in one order (packages on one line do not import each other)",
            id="a-lower-domain-package-imports-a-higher-one",
        ),
        pytest.param(
            "consent_api.uses.models",
            "import consent_api.requests.models",
            "The domain in one order (packages on one line do not import each other)",
            id="siblings-import-each-other",
        ),
        pytest.param(
            "consent_api.consents.summary",
            "import consent_api.consents.service",
            "No import cycles, between packages or between the modules of one",
            id="a-cycle-inside-a-package",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    result = _lint(_copy_with(tmp_path, module, line))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout, result.stdout
