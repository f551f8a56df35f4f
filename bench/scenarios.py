"""The scenario registry: what to load, and the setup that makes each request valid.

To add a scenario (a data use, say), append a `Scenario` to `SCENARIOS`; a `setup` receives
the scenario and the running `Target` and returns the ready-to-send copy (for example with a
bearer token, a bodies file sampled from the dataset, or a path naming a consent it created).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bench import cohortdata, oauth
from bench.checkdata import CheckFiles
from bench.cohortdata import CohortFiles
from bench.settings import PG_URL, BenchError
from bench.usedata import NOW, UseFiles
from server.demo import DEMO, DEMO_APP, DEMO_PATIENT

BASELINE = "healthz"
SINGLE_CHECK = "consent-check"
BATCH = "consent-check-batch"
BATCH_ONE_CONNECTION = "consent-check-batch-1conn"
DATA_USE = "data-use"
DATA_USE_PUSH = "data-use-push"
DATA_USE_PAID = "data-use-paid"
COHORT_COUNT = "cohort-count"
COHORT_COUNT_ONE_CONNECTION = "cohort-count-1conn"
PUSH_DRAIN = "push-drain"  # not a request: one worker draining a queued outbox (bench/push.py)
# Not a request either: one worker delivering queued webhooks to a receiver (bench/webhooks.py).
WEBHOOK_DRAIN = "webhook-drain"
# Not a request: one worker filing an approved study's invitations (bench/fanout.py).
STUDY_FANOUT = "study-fanout"
LEDGER_VERIFY = "ledger-verify"  # not a request: `ledger verify` over 1M postings (ledgerdata)
# Not requests: proofs and `audit verify` over a 10M-entry log (bench/auditscale.py), and the
# checkpoint lag under a data-use load on that log's database (bench/auditlag.py).
AUDIT_SCALE = "audit-scale"
AUDIT_LAG = "audit-lag"
# Abuse detection: its cost to data uses, the benign mix's incidents, detection latency.
ABUSE_DETECTION = "abuse-detection"


@dataclass
class Target:
    """The running service, and the tokens obtained from it so far."""

    base_url: str
    token_margin: float
    checks: CheckFiles | None = None
    uses: UseFiles | None = None
    cohorts: CohortFiles | None = None
    _tokens: dict[str, oauth.Token] = field(default_factory=dict)

    def _cached(self, key: str, fetch: Callable[[], oauth.Token]) -> str:
        """Return a cached access token that outlives the next run, fetching one if needed."""
        token = self._tokens.get(key)
        if token is None or not token.lasts(self.token_margin):
            token = self._tokens[key] = fetch()
        return token.access_token

    def patient_token(self) -> str:
        """Return the demo patient's access token, from the real PKCE login."""
        email, password, _ = DEMO_PATIENT
        _, client_id, redirect_uri = DEMO_APP
        return self._cached(
            "patient",
            lambda: oauth.patient_token(
                self.base_url,
                client_id=client_id,
                redirect_uri=redirect_uri,
                email=email,
                password=password,
            ),
        )

    def org_token(self, role: str = "hospital", scope: str | None = None) -> str:
        """Return an access token of a demo organisation (hospital, pharma, operator), with
        the scopes its client holds or only those asked for."""
        _, _, client_id, secret = DEMO[role]
        return self._cached(
            f"org:{role}:{scope or ''}",
            lambda: oauth.org_token(self.base_url, client_id=client_id, secret=secret, scope=scope),
        )


Setup = Callable[["Scenario", Target], "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """One request shape that wrk (or, for one connection, bench/serial.py) repeats.

    With `bodies`, each request sends a line of that file picked at random; `items` is how
    many consent checks one request carries; `count_decisions` tallies the answers (their
    `decision_field`). For data uses: `idempotent` sends a new Idempotency-Key per request,
    `stamp_now` replaces @NOW@ in the body with the current time, a `refusal_status` answer
    is counted as the decision "refused" rather than as a failure, `push` runs the
    scenario with a real worker pushing to a fake FCM server (and measures the lag), and
    `paid` runs it with fees on the consents relied on and checks the ledger afterwards
    (bench/paid.py). `cohort` reports the privacy budget the demo pharma spent on the run.
    """

    name: str
    path: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    setup: Setup | None = None
    description: str = ""
    bodies: Path | None = None
    items: int = 1
    count_decisions: bool = False
    driver: str = "wrk"  # or "serial": one connection, one request after another
    timeout_s: int = 5  # wrk's per-request timeout: queued batches wait a while
    decision_field: str = "decision"
    idempotent: bool = False
    stamp_now: bool = False
    refusal_status: int | None = None
    push: bool = False
    paid: bool = False
    cohort: bool = False

    def prepare(self, target: Target) -> Scenario:
        """Return the scenario ready to send, after its setup ran against the target."""
        return self if self.setup is None else self.setup(self, target)

    def with_headers(self, **headers: str) -> Scenario:
        """Return a copy with these headers added."""
        return replace(self, headers={**self.headers, **headers})

    def one_request(self) -> tuple[dict[str, str], str | None]:
        """Return the headers and body of one request sent from Python (the probe), made
        unique the way scenario.lua makes each of wrk's."""
        headers, body = dict(self.headers), self.body
        if self.idempotent:
            headers["Idempotency-Key"] = f"bench-probe-{uuid.uuid4().hex}"
        if self.stamp_now and body is not None:
            body = body.replace(NOW, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return headers, body

    def answered(self, status: int) -> bool:
        """Tell whether a status is an answer of the API (2xx, or the refusal status)."""
        return 200 <= status < 300 or status == self.refusal_status


def as_patient(scenario: Scenario, target: Target) -> Scenario:
    """Send the demo patient's bearer token."""
    return scenario.with_headers(Authorization=f"Bearer {target.patient_token()}")


def as_hospital(scenario: Scenario, target: Target) -> Scenario:
    """Send the demo hospital's bearer token."""
    return scenario.with_headers(Authorization=f"Bearer {target.org_token('hospital')}")


def _with_bodies(scenario: Scenario, target: Target, path: Path, items: int) -> Scenario:
    """Send the demo hospital's token and JSON bodies from a file (its first line probes)."""
    with path.open() as lines:
        first = lines.readline().strip()
    if not first:
        raise BenchError(f"{path} holds no request bodies")
    ready = replace(scenario, bodies=path, body=first, items=items, count_decisions=True)
    return as_hospital(ready.with_headers(**{"Content-Type": "application/json"}), target)


def single_checks(scenario: Scenario, target: Target) -> Scenario:
    """Check one random sampled patient per request."""
    if target.checks is None:
        raise BenchError("no check bodies were sampled from the dataset")
    return _with_bodies(scenario, target, target.checks.single, 1)


def batch_checks(scenario: Scenario, target: Target) -> Scenario:
    """Send one of the sampled batches per request."""
    if target.checks is None:
        raise BenchError("no check bodies were sampled from the dataset")
    return _with_bodies(scenario, target, target.checks.batches, target.checks.batch_size)


def data_uses(scenario: Scenario, target: Target) -> Scenario:
    """Report one sampled use per request, each with its own Idempotency-Key, at NOW."""
    if target.uses is None:
        raise BenchError("no data-use bodies were sampled from the dataset")
    return _with_bodies(scenario, target, target.uses.bodies, 1)


def paid_uses(scenario: Scenario, target: Target) -> Scenario:
    """Report one sampled paid use per request (half naming a data holder)."""
    if target.uses is None or target.uses.paid_bodies is None:
        raise BenchError("no paid data-use bodies were sampled from the dataset")
    return _with_bodies(scenario, target, target.uses.paid_bodies, 1)


def cohort_counts(scenario: Scenario, target: Target) -> Scenario:
    """Ask one sampled cohort count per request with the demo pharma's token (scope
    cohort.count only), after giving the pharma a budget the run cannot spend (written in
    the bench database: bench/cohortdata.py says why not through the admin API)."""
    if target.cohorts is None:
        raise BenchError("no cohort-count bodies were sampled from the dataset")
    with target.cohorts.bodies.open() as lines:
        first = lines.readline().strip()
    if not first:
        raise BenchError(f"{target.cohorts.bodies} holds no request bodies")
    cohortdata.open_budget(PG_URL, target.cohorts.org_id)
    token = target.org_token("pharma", scope="cohort.count")
    ready = replace(scenario, bodies=target.cohorts.bodies, body=first)
    return ready.with_headers(
        **{"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    )


SCENARIOS: list[Scenario] = [
    Scenario(
        name=BASELINE,
        path="/healthz",
        description="liveness, no database: the ceiling every ratio is taken against",
    ),
    Scenario(
        name="me",
        path="/v1/me",
        setup=as_patient,
        description="patient bearer token (PKCE login) → token lookup + profile from PostgreSQL",
    ),
    Scenario(
        name=SINGLE_CHECK,
        path="/v1/consent-checks",
        method="POST",
        setup=single_checks,
        description="demo hospital token, one check per request, a random sampled patient each",
    ),
    Scenario(
        name=BATCH,
        path="/v1/consent-checks/batch",
        method="POST",
        setup=batch_checks,
        timeout_s=30,
        description="a batch of BENCH_BATCH_SIZE sampled checks per request, under wrk",
    ),
    Scenario(
        name=BATCH_ONE_CONNECTION,
        path="/v1/consent-checks/batch",
        method="POST",
        setup=batch_checks,
        driver="serial",
        description="the same batches one at a time on one connection: a batch's latency",
    ),
    Scenario(
        name=DATA_USE,
        path="/v1/data-uses",
        method="POST",
        setup=data_uses,
        decision_field="outcome",
        idempotent=True,
        stamp_now=True,
        refusal_status=403,
        description="demo hospital reports a use (unique Idempotency-Key, occurred_at now) "
        "of a sampled patient with a device: use + notice + outbox row in one transaction",
    ),
    Scenario(
        name=DATA_USE_PAID,
        path="/v1/data-uses",
        method="POST",
        setup=paid_uses,
        decision_field="outcome",
        idempotent=True,
        stamp_now=True,
        refusal_status=403,
        paid=True,
        description="the same uses, each paid (fee on every consent relied on; half name a "
        "data holder): + ledger posting (transaction, 3-4 entries, wallet, lot)",
    ),
    Scenario(
        name=DATA_USE_PUSH,
        path="/v1/data-uses",
        method="POST",
        setup=data_uses,
        decision_field="outcome",
        idempotent=True,
        stamp_now=True,
        refusal_status=403,
        push=True,
        description=(
            "the same while one worker pushes to a fake FCM server: lag from use to push; and "
            "delivers webhooks of consents revoked meanwhile: lag from revocation to webhook"
        ),
    ),
    Scenario(
        name=COHORT_COUNT,
        path="/v1/cohort-counts",
        method="POST",
        setup=cohort_counts,
        cohort=True,
        timeout_s=30,
        description="demo pharma (scope cohort.count) sizes a random sampled scope per "
        "request: budget spend, consenting count over its consents, opted-in count, noise",
    ),
    Scenario(
        name=COHORT_COUNT_ONE_CONNECTION,
        path="/v1/cohort-counts",
        method="POST",
        setup=cohort_counts,
        cohort=True,
        driver="serial",
        description="the same counts one after another on one connection: one count's "
        "latency, without queueing",
    ),
]
# Not request scenarios, selectable with BENCH_SCENARIOS like one; they run after them.
PHASES = (
    PUSH_DRAIN,
    WEBHOOK_DRAIN,
    STUDY_FANOUT,
    LEDGER_VERIFY,
    AUDIT_LAG,
    AUDIT_SCALE,
    ABUSE_DETECTION,
)


def selected(names: tuple[str, ...]) -> list[Scenario]:
    """Return the scenarios to run: the baseline first, then those named (all if none)."""
    known = {scenario.name for scenario in SCENARIOS} | set(PHASES)
    unknown = sorted(set(names) - known)
    if unknown:
        raise BenchError(f"unknown scenarios {unknown}; known: {sorted(known)}")
    return [s for s in SCENARIOS if s.name == BASELINE or not names or s.name in names]


def phase_selected(name: str, names: tuple[str, ...]) -> bool:
    """Tell whether a phase that is not a request scenario (push drain, ledger verify) runs."""
    return not names or name in names
