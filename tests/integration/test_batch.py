"""POST /contracts/batch through the gateway: one result per item in order, a bad item refuses only itself."""

from __future__ import annotations

from tests.scanning import fresh


def count_rows(db, addresses: list[str]) -> int:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM contracts WHERE address IN ({', '.join(['%s'] * len(addresses))})",
                       addresses)
        return cursor.fetchone()[0]


def test_a_batch_answers_each_item_in_order_and_a_bad_one_refuses_only_itself(system, db):
    first, second = fresh("solidity_single", 2)
    answer = system.http.post("/contracts/batch", json={"contracts": [
        {"address": first.lower()},
        {"address": "0x1234"},
        {"address": second, "chain_id": 999999999},
        {"address": second, "chain_id": 1},
    ]})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [result.get("address") for result in results] == [first, "0x1234", second, second]
    assert results[0]["queued"] and results[0]["status"] in ("CREATED", "PROCESS", "SUCCESS")
    assert results[1]["error"]["code"] == "malformed_address" and "status" not in results[1]
    assert results[2]["error"]["code"] == "unsupported_chain" and results[2]["chain_id"] == 999999999
    assert results[3]["queued"] and results[3]["chain_id"] == 1
    assert system.wait_terminal(first)["status"] == system.wait_terminal(second)["status"] == "SUCCESS"
    assert count_rows(db, [first, second]) == 2  # the refused items stored nothing


def test_a_contract_twice_in_a_batch_or_already_known_is_not_queued_again(system):
    (address,) = fresh("solidity_multi", 1)
    results = system.http.post("/contracts/batch", json={"contracts": [{"address": address}] * 2}).json()["results"]
    assert [result["queued"] for result in results] == [True, False]
    system.wait_terminal(address)
    again = system.http.post("/contracts/batch", json={"contracts": [{"address": address},
                                                                     {"address": address, "refresh": True}]})
    assert [result["queued"] for result in again.json()["results"]] == [False, True]


def test_a_batch_over_1000_items_or_of_the_wrong_shape_is_refused_whole(system, db):
    addresses = fresh("solidity_single", 1001)
    too_many = system.http.post("/contracts/batch", json={"contracts": [{"address": a} for a in addresses]})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "invalid_request"
    for body in ({"contracts": []}, {"contracts": [{"address": addresses[0]}], "extra": 1}, [addresses[0]]):
        refused = system.http.post("/contracts/batch", json=body)
        assert refused.status_code == 422, body
    assert count_rows(db, addresses) == 0
