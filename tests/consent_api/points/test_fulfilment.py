"""A redemption is fulfilled (issue 13): a voucher code or the reward's instructions, shown at
once and again later, and the patient is told (without the code in the push)."""

from __future__ import annotations

import re

from tests.conftest import bearer
from tests.consent_api.points.conftest import paid_use, redeem

CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}")


def _reward(client, admin_token, **body):
    answer = client.post(
        "/v1/admin/rewards",
        json={"name": "Pharmacy voucher", "cost": 20, **body},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 201, answer.json
    return answer.json


def _rich(client, paid, pharma_token):
    patient, token, _ = paid(fee=100)
    paid_use(client, pharma_token, patient.id)  # 85 points
    return token


def test_a_voucher_reward_gives_a_code_shown_again_later(client, admin_token, paid, pharma_token):
    token = _rich(client, paid, pharma_token)
    voucher = _reward(client, admin_token, instructions="Show the code at a partner pharmacy.")
    assert voucher["fulfilment"] == "voucher_code"
    first = redeem(client, token, voucher["id"]).json
    second = redeem(client, token, voucher["id"]).json
    assert first["fulfilment"]["kind"] == "voucher_code"
    assert CODE.fullmatch(first["fulfilment"]["voucher_code"])
    assert first["fulfilment"]["instructions"] == "Show the code at a partner pharmacy."
    assert first["fulfilment"]["voucher_code"] != second["fulfilment"]["voucher_code"]
    listed = client.get("/v1/me/points/redemptions", headers=bearer(token))
    assert listed.status_code == 200
    by_id = {item["id"]: item for item in listed.json["items"]}
    assert by_id[first["id"]]["fulfilment"] == first["fulfilment"]
    assert [item["id"] for item in listed.json["items"]] == [second["id"], first["id"]]


def test_an_instructions_reward_gives_its_instructions_and_no_code(
    client, admin_token, paid, pharma_token
):
    token = _rich(client, paid, pharma_token)
    how = "We will post a pedometer to the address in your profile within two weeks."
    gift = _reward(client, admin_token, fulfilment="instructions", instructions=how)
    redeemed = redeem(client, token, gift["id"]).json
    assert redeemed["fulfilment"] == {
        "kind": "instructions",
        "voucher_code": None,
        "instructions": how,
    }


def test_the_patient_is_told_of_a_redemption_without_the_code(
    client, admin_token, paid, pharma_token
):
    token = _rich(client, paid, pharma_token)
    redeemed = redeem(client, token, _reward(client, admin_token)["id"]).json
    inbox = client.get("/v1/me/notifications", headers=bearer(token)).json["items"]
    (told,) = [n for n in inbox if n["type"] == "reward_redeemed"]
    assert "Pharmacy voucher" in told["title"]
    assert told["data"]["redemption_id"] == redeemed["id"]
    code = redeemed["fulfilment"]["voucher_code"]
    assert code not in told["title"] + told["body"] + str(told["data"])


def test_a_rewards_name_may_not_be_blank(client, admin_token):
    answer = client.post(
        "/v1/admin/rewards", json={"name": " \u200b ", "cost": 5}, headers=bearer(admin_token)
    )
    assert answer.status_code == 422
    assert "name" in answer.json["errors"]


def test_instructions_are_required_for_an_instructions_reward(client, admin_token):
    answer = client.post(
        "/v1/admin/rewards",
        json={"name": "Pedometer", "cost": 500, "fulfilment": "instructions"},
        headers=bearer(admin_token),
    )
    assert answer.status_code == 422
    assert "instructions" in answer.json["errors"]


def test_another_patients_redemptions_are_not_listed(client, admin_token, paid, pharma_token):
    token = _rich(client, paid, pharma_token)
    redeem(client, token, _reward(client, admin_token)["id"])
    _, other, _ = paid(fee=100)
    assert client.get("/v1/me/points/redemptions", headers=bearer(other)).json["items"] == []


def test_the_voucher_code_is_kept_nowhere_not_even_with_the_replayable_answer(
    client, admin_token, paid, pharma_token
):
    """Review finding: the idempotency record kept the first answer, code and all, for a
    week; it now keeps the answer without the code, and a replay derives it again."""
    from sqlalchemy import select

    from server.db import db
    from server.idempotency import IdempotencyRecord

    token = _rich(client, paid, pharma_token)
    reward_id = _reward(client, admin_token)["id"]
    first = redeem(client, token, reward_id, key="keep-nothing")
    code = first.json["fulfilment"]["voucher_code"]
    stored = db.session.scalars(select(IdempotencyRecord.response)).all()
    assert stored
    assert all(code not in str(answer) for answer in stored)
    replay = redeem(client, token, reward_id, key="keep-nothing")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json


def test_a_redemption_is_in_the_patients_audit_log(client, admin_token, paid, pharma_token):
    token = _rich(client, paid, pharma_token)
    voucher = _reward(client, admin_token)
    made = redeem(client, token, voucher["id"]).json
    entries = client.get("/v1/me/audit", headers=bearer(token)).json["items"]
    [entry] = [e for e in entries if e["kind"] == "points.redeemed"]
    assert entry["subjects"]["redemption"] == made["id"]
    assert entry["subjects"]["reward"] == voucher["id"]
    assert entry["payload"] == {"reward": "Pharmacy voucher", "cost": 20}
    assert entry["actor"]["type"] == "patient"
    assert "voucher_code" not in str(entry)  # the code is never stored, nor audited
