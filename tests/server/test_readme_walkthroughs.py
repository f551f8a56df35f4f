"""The README's three walk-throughs (issue 13), pasted as written into a shell against a
served demo: the hospital's, the patient app's and the data user's, in that order (each
leaves the demo as the next expects it, as a newcomer trying them in turn would)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import pytest

from server import demo
from server.app import create_app
from server.db import db
from tests.conftest import app_config, wipe_committed
from tests.server.test_serving import Served
from tests.support import ROOT

BLOCKS = re.compile(r"^### (?P<title>.+?)\n.*?```sh\n(?P<script>.*?)```", re.S | re.M)


def _walkthroughs() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Walk-throughs") : readme.index("## Configuration")]
    return {m["title"].split(":")[0]: m["script"] for m in BLOCKS.finditer(section)}


@pytest.fixture(scope="module")
def served_demo(app, database_url, tmp_path_factory) -> Iterator[Served]:
    writer = create_app(app_config(database_url))
    with writer.app_context():
        demo.seed()
        db.session.commit()
    server = Served(database_url, tmp_path_factory.mktemp("walk") / "serve.log")
    try:
        yield server
    finally:
        server.stop()
        wipe_committed(writer)


def _paste(script: str, base_url: str) -> list[str]:
    script = script.replace("BASE=http://127.0.0.1:8000", f"BASE={base_url}")
    run = subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout.splitlines()


def test_the_readme_has_a_walkthrough_per_persona():
    assert list(_walkthroughs()) == ["The hospital", "The patient app", "The data user"]


def test_the_walkthroughs_work_as_pasted(served_demo):
    walks = _walkthroughs()
    hospital = "\n".join(_paste(walks["The hospital"], served_demo.base_url))
    assert '"decision":"permit"' in hospital
    assert "CONSENT_PERMIT" in hospital

    patient = "\n".join(_paste(walks["The patient app"], served_demo.base_url))
    assert '"website":"https://demo-pharma.example"' in patient
    assert '"max_uses":3' in patient  # the approved, narrowed consent
    assert '"label":"allowed by your consent"' in patient
    assert '"kind":"voucher_code"' in patient

    user = "\n".join(_paste(walks["The data user"], served_demo.base_url))
    assert '"status":"pending"' in user  # the request just filed
    assert '"outcome":"permitted"' in user
    assert '"paid":200' in user  # the study's fee, for the seeded use and this one
