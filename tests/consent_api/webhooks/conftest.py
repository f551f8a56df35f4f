"""A running local receiver for every webhook test that asks for one."""

import pytest

from tests.consent_api.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    """A receiver on 127.0.0.1, stopped after the test."""
    with Receiver() as running:
        yield running
