"""A Python client generated from openapi.yaml works against the app, our problems included.

openapi-python-client (a dev dependency) writes the client once for this module; every call
goes through its own API and httpx, into the app in this process (WSGITransport), so it runs
inside the test's rolled-back transaction like the Flask test client does.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from server.db import db
from tests.conftest import ref, shown
from tests.openapi_check import SPEC_PATH

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "consent_wallet_client"
# The one operation whose answer the client cannot model: the contract itself, as YAML.
ACCEPTED_WARNINGS = {"GET /openapi.yaml"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """Generate the client into a temporary directory, import it, and keep the generator's
    warnings (no post hooks: formatting the output would only cost time)."""
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    command = [GENERATOR, "generate", "--path", SPEC_PATH, "--output-path", root / PACKAGE]
    result = subprocess.run(
        [*command, "--meta", "none", "--config", config],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(root))
    try:
        yield SimpleNamespace(
            warned=set(re.findall(r"^WARNING parsing (\S+ \S+) within", result.stderr, re.M)),
            client=importlib.import_module(f"{PACKAGE}.client"),
            api=lambda name: importlib.import_module(f"{PACKAGE}.api.{name}"),
            models=importlib.import_module(f"{PACKAGE}.models"),
        )
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


def _commit_setup(request: httpx.Request) -> None:
    # As the Flask test client does (tests/conftest.py): the test's setup is only flushed, and
    # a request that answers an error rolls back its own writes, so commit (a savepoint) first.
    db.session.commit()


@pytest.fixture
def client_for(app, session, generated):
    """The generated client acting with a bearer token, calling the app in this process."""

    def make(token: str):
        return generated.client.AuthenticatedClient(
            base_url="http://localhost",
            token=token,
            raise_on_unexpected_status=True,
            httpx_args={
                "transport": httpx.WSGITransport(app=app),
                "event_hooks": {"request": [_commit_setup]},
            },
        )

    return make


def test_every_operation_is_generated_but_the_yaml_contract(generated):
    assert generated.warned == ACCEPTED_WARNINGS


def test_the_patient_app_reads_its_profile_and_consents(generated, client_for, grant):
    patient, consent, token = grant()
    wallet = client_for(token)

    profile = generated.api("patients.get_my_profile").sync(client=wallet)
    consents = generated.api("consents.list_my_consents").sync(client=wallet)

    assert isinstance(profile, generated.models.Patient)
    assert (profile.id, profile.email) == (patient.id, patient.email)
    assert isinstance(consents, generated.models.ConsentPage)
    assert [c.id for c in consents.items] == [uuid.UUID(consent["id"])]


def test_a_hospital_check_is_permitted_by_a_granted_consent(
    generated, client_for, grant, hospital_token
):
    patient, consent, _ = grant()
    models = generated.models
    body = models.ConsentCheck(
        patient_ref=ref(hospital_token, patient),
        data_category=models.DataCategory.LAB_RESULTS,
        purpose=models.Purpose.TREAT,
        action=models.Action.USE,
    )

    decision = generated.api("decisions.check_consent").sync(
        client=client_for(hospital_token), body=body
    )

    assert isinstance(decision, models.Decision)
    assert decision.decision == models.DecisionDecision.PERMIT
    assert decision.consent_id == uuid.UUID(shown(hospital_token, consent["id"]))


def test_a_data_user_lists_the_consents_it_holds(generated, client_for, grant, token_for):
    pharma_token = token_for("pharma")
    _, consent, _ = grant(grantee={"org_type": "pharma"}, purposes=["HRESCH"])

    page = generated.api("consents.list_granted_consents").sync(client=client_for(pharma_token))

    assert isinstance(page, generated.models.GrantedConsentPage)
    assert [c.id for c in page.items] == [uuid.UUID(shown(pharma_token, consent["id"]))]


def test_an_unknown_consent_is_parsed_into_the_typed_problem(generated, client_for, hospital_token):
    problem = generated.api("consents.get_granted_consent").sync(
        consent_id=uuid.uuid4(), client=client_for(hospital_token)
    )

    assert isinstance(problem, generated.models.NotFoundProblem)
    assert problem.code == generated.models.NotFoundProblemCode.NOT_FOUND
    assert problem.status == 404
