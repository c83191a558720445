"""The provider chain on in-memory providers, and the Sourcify and Blockscout clients on in-memory HTTP answers:
order, fallthrough, faults that stop the chain where a retry resumes, proxies, and hostile answers."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import pytest

from ethsource.models import PoisonMessage, ScanItem, ScanMessage
from ethsource.provider_clients import BlockscoutClient, SourcifyClient
from ethsource.providers import ProviderChain
from ethsource.sources import ContractSource, ProviderError, SourceError
from tests.unit import test_blockscout, test_sourcify

PROXY = "0x1111111111111111111111111111111111111111"
IMPLEMENTATION = "0x2222222222222222222222222222222222222222"
OTHER = "0x3333333333333333333333333333333333333333"


class Turns:
    """A budget that never makes a caller wait."""

    def __init__(self):
        self.turns = 0

    async def take_turn(self) -> str:
        self.turns += 1
        return ""


def a_source(provider: str, implementation: str | None = None) -> ContractSource:
    return ContractSource(files={"A.sol": "contract A {}"}, abi_json="[]", metadata={
        "provider": provider, "proxy": implementation is not None, "implementation": implementation})


def not_verified(provider: str) -> SourceError:
    return SourceError("not_verified", f"not verified on {provider}")


def unserved(provider: str) -> ProviderError:
    return ProviderError(provider, "unsupported_chain", "not this chain", transient=False)


def passing_fault(provider: str) -> ProviderError:
    return ProviderError(provider, f"{provider}_unavailable", f"{provider} answered HTTP 502", transient=True)


class FakeProvider:
    """Answers each address from `answers` (a source, or an error to raise); not verified for any other."""

    def __init__(self, name: str, **answers):
        self.name, self.answers, self.asked = name, answers, []
        self.budget = Turns()

    async def fetch(self, chain_id: int, address: str) -> ContractSource:
        self.asked.append(address)
        answer = self.answers.get(address, not_verified(self.name))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        pass


def providers(**answers_by_provider) -> tuple[ProviderChain, dict[str, FakeProvider]]:
    """etherscan, sourcify and blockscout, in that order, each with its answers ({address: answer})."""
    fakes = {name: FakeProvider(name, **answers_by_provider.get(name, {}))
             for name in ("etherscan", "sourcify", "blockscout")}
    return ProviderChain(list(fakes.values())), fakes


def fetch(chain: ProviderChain, address: str = OTHER, resume_at: str | None = None) -> ContractSource:
    return asyncio.run(chain.fetch(1, address, resume_at))


# --- order and fallthrough -----------------------------------------------------------------------------------------

def test_the_first_provider_that_verifies_the_contract_answers_and_the_later_ones_are_not_asked():
    chain, fakes = providers(etherscan={OTHER: a_source("etherscan")}, sourcify={OTHER: a_source("sourcify")})
    assert fetch(chain).provider == "etherscan"
    assert fakes["sourcify"].asked == [] and fakes["blockscout"].asked == []


def test_not_verified_and_an_unserved_chain_send_the_scan_to_the_next_provider():
    chain, fakes = providers(etherscan={OTHER: unserved("etherscan")}, blockscout={OTHER: a_source("blockscout")})
    assert fetch(chain).provider == "blockscout"
    assert [fake.asked for fake in fakes.values()] == [[OTHER], [OTHER], [OTHER]]


def test_a_contract_no_provider_verifies_is_not_verified_naming_every_provider_asked():
    chain, _ = providers()
    with pytest.raises(SourceError) as raised:
        fetch(chain)
    assert raised.value.code == "not_verified"
    assert raised.value.message == "the contract's source code is not verified on Etherscan, Sourcify or Blockscout"


def test_providers_that_do_not_serve_the_chain_are_named_apart():
    chain, _ = providers(etherscan={OTHER: unserved("etherscan")}, blockscout={OTHER: unserved("blockscout")})
    with pytest.raises(SourceError) as raised:
        fetch(chain)
    assert raised.value.message == ("the contract's source code is not verified on Sourcify (Etherscan and "
                                    "Blockscout do not serve chain 1)")


def test_a_chain_no_provider_serves_is_unsupported_chain():
    chain, _ = providers(**{name: {OTHER: unserved(name)} for name in ("etherscan", "sourcify", "blockscout")})
    with pytest.raises(ProviderError) as raised:
        fetch(chain)
    assert (raised.value.code, raised.value.transient) == ("unsupported_chain", False)
    assert "Etherscan, Sourcify and Blockscout" in raised.value.message


def test_only_the_configured_providers_are_asked_in_their_order():
    sourcify_only, etherscan = FakeProvider("sourcify"), FakeProvider("etherscan", **{OTHER: a_source("etherscan")})
    with pytest.raises(SourceError) as raised:
        asyncio.run(ProviderChain([sourcify_only]).fetch(1, OTHER))
    assert raised.value.message.endswith("not verified on Sourcify") and etherscan.asked == []


# --- faults --------------------------------------------------------------------------------------------------------

def test_a_passing_fault_stops_the_chain_and_names_the_provider_to_resume_at():
    chain, fakes = providers(sourcify={OTHER: passing_fault("sourcify")}, blockscout={OTHER: a_source("blockscout")})
    with pytest.raises(ProviderError) as raised:
        fetch(chain)
    assert raised.value.transient and raised.value.resume_at == "sourcify"
    assert fakes["blockscout"].asked == []  # a fault is no "not verified": Sourcify may have it


def test_a_retry_resumes_at_the_provider_that_faulted_and_the_earlier_ones_count_as_asked():
    chain, fakes = providers()
    with pytest.raises(SourceError) as raised:
        fetch(chain, resume_at="sourcify")
    assert fakes["etherscan"].asked == [] and fakes["sourcify"].asked == [OTHER]
    assert raised.value.message.endswith("not verified on Etherscan, Sourcify or Blockscout")


def test_a_retry_naming_a_provider_no_longer_configured_starts_at_the_first():
    chain, fakes = providers(etherscan={OTHER: a_source("etherscan")})
    assert fetch(chain, resume_at="oldscan").provider == "etherscan"


@pytest.mark.parametrize("error", [SourceError("invalid_source", "the Sourcify answer has no sources"),
                                   ProviderError("sourcify", "sourcify_error", "Sourcify answered HTTP 400",
                                                 transient=False)])
def test_an_answer_that_is_neither_a_source_nor_not_verified_ends_the_chain_with_its_own_error(error):
    chain, fakes = providers(sourcify={OTHER: error}, blockscout={OTHER: a_source("blockscout")})
    with pytest.raises(type(error)) as raised:
        fetch(chain)
    assert raised.value is error and fakes["blockscout"].asked == []


# --- proxies -------------------------------------------------------------------------------------------------------

def test_a_proxys_implementation_is_looked_up_through_every_provider():
    chain, _ = providers(sourcify={PROXY: a_source("sourcify", IMPLEMENTATION)},
                         blockscout={IMPLEMENTATION: a_source("blockscout")})
    source = fetch(chain, PROXY)
    assert source.provider == "sourcify" and source.implementation.provider == "blockscout"


def test_a_proxy_whose_implementation_no_one_verifies_is_served_alone():
    chain, _ = providers(etherscan={PROXY: a_source("etherscan", IMPLEMENTATION)})
    source = fetch(chain, PROXY)
    assert source.provider == "etherscan" and source.implementation is None


def test_a_passing_fault_on_the_implementation_resumes_where_the_proxy_was_found():
    chain, _ = providers(sourcify={PROXY: a_source("sourcify", IMPLEMENTATION)},
                         blockscout={IMPLEMENTATION: passing_fault("blockscout")})
    with pytest.raises(ProviderError) as raised:
        fetch(chain, PROXY)
    assert raised.value.provider == "blockscout" and raised.value.resume_at == "sourcify"


# --- the Sourcify and Blockscout clients on in-memory answers -------------------------------------------------------

class Answering:
    """In place of ProviderHttp: each GET gets the next answer (status, body); the URLs asked are kept."""

    def __init__(self, *answers: tuple[int, bytes]):
        self.answers, self.urls = answers, []

    async def get(self, url: str, params: dict | None = None) -> tuple[int, bytes]:
        self.urls.append(url + (f"?{urlencode(params)}" if params else ""))
        return self.answers[len(self.urls) - 1]

    async def close(self) -> None:
        pass


def json_response(document, status: int = 200) -> tuple[int, bytes]:
    return status, json.dumps(document).encode()


HTML = (200, b"<html><body>Just a moment...</body></html>")


def sourcify_fetch(*answers: tuple[int, bytes]) -> tuple[ContractSource | Exception, list[str]]:
    http = Answering(*answers)
    client = SourcifyClient("https://sourcify.example/server", Turns(), http)
    return _outcome(client.fetch(11155111, test_sourcify.ADDRESS)), http.urls


def blockscout_fetch(*answers: tuple[int, bytes], chain_id: int = 1) -> tuple[ContractSource | Exception, list[str]]:
    http = Answering(*answers)
    requests = http.urls
    budgets: dict[str, Turns] = {}
    client = BlockscoutClient({1: "https://eth.blockscout.example"}, lambda host: budgets.setdefault(host, Turns()),
                              http)
    outcome = _outcome(client.fetch(chain_id, test_sourcify.ADDRESS))
    assert sum(budget.turns for budget in budgets.values()) == len(requests)  # each call took its turn
    return outcome, requests


def _outcome(call) -> ContractSource | Exception:
    try:
        return asyncio.run(call)
    except (ProviderError, SourceError) as exc:
        return exc


def test_sourcify_is_asked_for_every_field_of_the_contract():
    source, [url] = sourcify_fetch(json_response(test_sourcify.VERIFIED))
    assert url == f"https://sourcify.example/server/v2/contract/11155111/{test_sourcify.ADDRESS}?fields=all"
    assert source.provider == "sourcify" and source.metadata["match"] == "exact_match"
    assert source.metadata["sourcify"]["matchId"] == "3266227"  # its own fields kept for metadata.json


def test_blockscout_is_asked_at_the_chains_instance_and_not_at_all_for_a_chain_without_one():
    source, [url] = blockscout_fetch(json_response(test_blockscout.VERIFIED))
    assert url == f"https://eth.blockscout.example/api/v2/smart-contracts/{test_sourcify.ADDRESS}"
    assert source.provider == "blockscout" and source.metadata["blockscout"]["is_fully_verified"] is True
    error, requests = blockscout_fetch(chain_id=777)
    assert (error.code, error.transient, requests) == ("unsupported_chain", False, [])


@pytest.mark.parametrize("answer, code, transient", [
    (HTML, "sourcify_unavailable", True),
    ((200, json.dumps(test_sourcify.VERIFIED).encode()[:100]), "sourcify_unavailable", True),
    ((502, b"<html>502 Bad Gateway</html>"), "sourcify_unavailable", True),
    (json_response({"customCode": "too_many_requests", "message": "slow down", "errorId": "x"}, 429),
     "sourcify_rate_limited", True),
    (json_response({k: v for k, v in test_sourcify.VERIFIED.items() if k != "sources"}), "invalid_source", False),
    (json_response(test_sourcify.NOT_VERIFIED, 404), "not_verified", False),
    (json_response({"customCode": "unsupported_chain", "message": "Chain 11155111 not found", "errorId": "x"}, 404),
     "unsupported_chain", False),
])
def test_sourcify_answers_end_as_a_source_error_or_a_fault_never_a_crash(answer, code, transient):
    error, _ = sourcify_fetch(answer)
    assert (error.code, getattr(error, "transient", False)) == (code, transient)
    assert error.message and "sourcify.example" not in error.message


@pytest.mark.parametrize("answer, code, transient", [
    (HTML, "blockscout_unavailable", True),
    ((200, json.dumps(test_blockscout.VERIFIED).encode()[:100]), "blockscout_unavailable", True),
    (json_response({"message": "Too Many Requests"}, 429), "blockscout_rate_limited", True),
    (json_response(test_blockscout.ON_CHAIN_ONLY), "not_verified", False),  # Blockscout's 200 without sources
    (json_response({"message": "Not found"}, 404), "not_verified", False),
    ((404, b"404 page not found"), "blockscout_error", False),  # not an instance there
    (json_response({**test_blockscout.VERIFIED, "additional_sources": "Maths.sol"}), "invalid_source", False),
])
def test_blockscout_answers_end_as_a_source_error_or_a_fault_never_a_crash(answer, code, transient):
    error, _ = blockscout_fetch(answer)
    assert (error.code, getattr(error, "transient", False)) == (code, transient)
    assert error.message and "blockscout.example" not in error.message


def test_paths_that_climb_out_are_kept_inside_the_tree_whichever_provider_sent_them():
    climbing = {"../../etc/passwd": {"content": "x"}, "/abs/Token.sol": {"content": "y"}}
    from_sourcify, _ = sourcify_fetch(json_response({**test_sourcify.VERIFIED, "sources": climbing}))
    from_blockscout, _ = blockscout_fetch(json_response({**test_blockscout.VERIFIED,
                                                         "file_path": "../../../home/user/.bashrc"}))
    assert set(from_sourcify.files) == {"etc/passwd", "abs/Token.sol"}
    assert from_sourcify.metadata["path_changes"]["etc/passwd"] == "../../etc/passwd"
    assert "home/user/.bashrc" in from_blockscout.files


# --- the retry message ---------------------------------------------------------------------------------------------

def test_a_retry_message_names_its_provider_and_messages_without_one_start_at_the_first():
    retry = ScanMessage(contracts=(ScanItem(chain_id=1, address=OTHER, provider="sourcify"),))
    assert ScanMessage.from_body(retry.to_body()).contracts[0].provider == "sourcify"
    earlier = ScanMessage.from_body(json.dumps({"contracts": [{"chain_id": 1, "address": OTHER}]}))
    assert earlier.contracts[0].provider is None
    assert b"provider" not in ScanMessage(contracts=(ScanItem(chain_id=1, address=OTHER),)).to_body()


def test_a_message_on_a_chain_no_provider_serves_is_scanned_not_dead_lettered():
    # Accepted when submitted; if no provider serves the chain any more, the scan says so as its outcome.
    assert ScanMessage.from_body(json.dumps({"chain_id": 424242, "address": OTHER})).contracts[0].chain_id == 424242
    with pytest.raises(PoisonMessage):
        ScanMessage.from_body(json.dumps({"chain_id": 0, "address": OTHER}))
