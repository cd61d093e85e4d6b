"""Personal data is found by its mark, wherever it sits in a payload."""

from events.privacy import MASK, mask_personal


def test_petitioners_are_masked_and_the_rest_is_kept() -> None:
    payload = {
        "channel": "visit",
        "persons": 2,
        "summary": "噪音扰民",
        "petitioners": [{"name": "李四", "phone": "13900000000", "id_number": None}],
        "respondent": "某村委会",
    }
    masked, found = mask_personal("petition.registered", payload)
    assert found
    assert masked["petitioners"] == [{"name": MASK, "phone": MASK, "id_number": None}]
    assert {k: masked[k] for k in ("channel", "persons", "summary", "respondent")} == {
        "channel": "visit",
        "persons": 2,
        "summary": "噪音扰民",
        "respondent": "某村委会",
    }


def test_nested_and_single_persons_are_masked() -> None:
    complaint, found = mask_personal(
        "complaint.registered",
        {
            "channel": "phone",
            "subject": "油烟",
            "complainant": {"name": "王五", "address": "南文村"},
        },
    )
    assert found
    assert complaint["complainant"] == {"name": MASK, "address": MASK}
    parties, _ = mask_personal(
        "mediation.accepted",
        {
            "dispute": "租赁",
            "parties": [{"name": "甲"}, {"name": "乙"}],
            "amount_in_dispute_fen": 1,
        },
    )
    assert parties["parties"] == [{"name": MASK}, {"name": MASK}]
    assert parties["amount_in_dispute_fen"] == 1


def test_a_payload_without_personal_data_is_untouched() -> None:
    payload = {"note": "符合受理条件"}
    assert mask_personal("petition.accepted", payload) == (payload, False)
