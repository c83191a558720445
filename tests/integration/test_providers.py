"""Sourcify and Blockscout after Etherscan, through the real scanner (`ethsource serve scan`), the fake explorers
over HTTP, MariaDB and RabbitMQ: who answers is stored, what each says is kept, and their chains are accepted."""

from __future__ import annotations

import io
import json
import zipfile

import httpx

from ethsource import lookup, services
from ethsource_local.fake_etherscan import FakeConfig, address_with_shape, explorer_urls, running
from ethsource_local.fake_etherscan.chains import DEFAULT_CHAINS
from tests.conftest import serving, wait_until
from tests.scanning import fresh, own_queue, scanner

ONLY_BLOCKSCOUT_CHAIN = 777


def test_a_contract_only_sourcify_or_blockscout_verifies_is_served_by_it(service_env, db):
    shapes = ("sourcify_exact_match", "sourcify_match", "blockscout", "solidity_single")
    addresses = {shape: fresh(shape, 1)[0] for shape in shapes}
    with scanner(service_env, db, FakeConfig()) as scan:
        results = scan.submit_and_wait(list(addresses.values()))
        sourcify_calls = scan.metric("ethsource_provider_calls_total", provider="sourcify", result="ok")
        blockscout_calls = scan.metric("ethsource_provider_calls_total", provider="blockscout", result="ok")
    found = {shape: results[address] for shape, address in addresses.items()}
    assert {shape: (r["status"], r["provider"], r["match"]) for shape, r in found.items()} == {
        "sourcify_exact_match": ("SUCCESS", "sourcify", "exact_match"),
        "sourcify_match": ("SUCCESS", "sourcify", "match"),
        "blockscout": ("SUCCESS", "blockscout", found["blockscout"]["match"]),
        "solidity_single": ("SUCCESS", "etherscan", None),
    }
    assert found["blockscout"]["match"] in ("exact_match", "match")
    assert all(r["attempts"] == 1 and r["contract_name"] for r in found.values())
    assert (sourcify_calls, blockscout_calls) == (2, 1)


def test_a_contract_no_provider_verifies_ends_not_verified_naming_every_provider_asked(service_env, db):
    [address] = fresh("unverified", 1)
    with scanner(service_env, db, FakeConfig()) as scan:
        result = scan.submit_and_wait([address])[address]
        calls = scan.stats()["calls_by_provider"]
    assert result["status"] == "ERROR" and result["attempts"] == 1
    assert result["error"] == {"code": "not_verified", "message": "the contract's source code is not verified on "
                                                                  "Etherscan, Sourcify or Blockscout"}
    assert calls == {"etherscan": 1, "sourcify": 1, "blockscout": 1}


def test_the_download_keeps_each_providers_own_fields(system):
    for shape, own_field in (("sourcify_exact_match", "matchId"), ("blockscout", "verified_at")):
        address = address_with_shape(shape, 3)
        assert system.http.post("/contracts", json={"address": address}).status_code in (200, 202)
        assert system.wait_terminal(address)["provider"] == shape.split("_")[0]
        archive = zipfile.ZipFile(io.BytesIO(system.http.get(f"/contracts/{address}/source").content))
        metadata = json.loads(archive.read("metadata.json"))
        provider = shape.split("_")[0]
        assert metadata["provider"] == provider and own_field in metadata[provider]
        assert system.http.get(f"/contracts/{address}/source", params={"format": "json"}).json()[
            "metadata"][provider] == metadata[provider]


def test_a_chain_only_blockscout_serves_is_accepted_at_submission_and_scanned_there(service_env, db):
    chains = DEFAULT_CHAINS | {ONLY_BLOCKSCOUT_CHAIN}
    [address] = fresh("blockscout", 1)
    with running(FakeConfig(blockscout_chains=chains)) as fake_url, \
            own_queue(service_env, fake_url, BLOCKSCOUT_API_URLS=explorer_urls(fake_url, chains)[
                "BLOCKSCOUT_API_URLS"]) as (env, _), \
            serving("scan", {**env, "SCAN_CONSUMER": "true"}), serving("submit", env) as submit_port:
        submit = f"http://127.0.0.1:{submit_port}/contracts"
        accepted = httpx.post(submit, json={"address": address, "chain_id": ONLY_BLOCKSCOUT_CHAIN})
        refused = httpx.post(submit, json={"address": address, "chain_id": ONLY_BLOCKSCOUT_CHAIN + 1})

        def settled():
            [contract] = lookup.get_many(services.services().store, [(ONLY_BLOCKSCOUT_CHAIN, address)])
            return contract.status in ("SUCCESS", "ERROR") and contract

        contract = wait_until(settled, 60, "the contract on the Blockscout-only chain settled")
    assert accepted.status_code == 202
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unsupported_chain"
    assert (contract.status, contract.provider) == ("SUCCESS", "blockscout")
