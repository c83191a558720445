"""The fake Etherscan, exercised over real HTTP the way the project's client will call it."""

import hashlib
import json
import time
from collections import Counter

import httpx
import pytest

from ethsource.addresses import to_checksum
from ethsource_local.fake_etherscan import (
    ELSEWHERE_SHAPES,
    ETHERSCAN_SHAPES,
    SHAPES,
    FakeConfig,
    address_with_shape,
    expected_files,
    explorer_urls,
    form_of,
    getsourcecode_answer,
    implementation_of,
    running,
    shape_of,
    verifier_of,
)
from ethsource_local.fake_etherscan.server import parse_args

ITEM_KEYS = {
    "SourceCode", "ABI", "ContractName", "ContractFileName", "CompilerVersion", "OptimizationUsed", "Runs",
    "ConstructorArguments", "EVMVersion", "Library", "LicenseType", "Proxy", "Implementation", "SwarmSource",
}
UNVERIFIED_ANSWER = {
    "status": "1",
    "message": "OK",
    "result": [
        {
            "SourceCode": "", "ABI": "Contract source code not verified", "ContractName": "", "CompilerVersion": "",
            "OptimizationUsed": "", "Runs": "", "ConstructorArguments": "", "EVMVersion": "Default", "Library": "",
            "LicenseType": "Unknown", "Proxy": "0", "Implementation": "", "SwarmSource": "",
        }
    ],
}


def notok(result):
    return {"status": "0", "message": "NOTOK", "result": result}


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture(scope="module")
def url():
    with running(FakeConfig()) as base_url:
        yield base_url


def call(client, url, address, chainid=1, apikey="test-key", **params):
    params = {"chainid": chainid, "module": "contract", "action": "getsourcecode", "address": address,
              "apikey": apikey, **params}
    response = client.get(url, params={k: v for k, v in params.items() if v is not None})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def stats(client, url):
    return client.get(url.replace("/v2/api", "/_fake/stats")).json()


def decode_files(item):
    """What a client makes of SourceCode: double braces, single-brace file map, or one plain file."""
    source = item["SourceCode"]
    if source.startswith("{{"):
        return {path: s["content"] for path, s in json.loads(source[1:-1])["sources"].items()}
    if source.startswith("{"):
        return {path: s["content"] for path, s in json.loads(source).items()}
    extension = ".vy" if item["CompilerVersion"].startswith("vyper") else ".sol"
    return {item["ContractName"] + extension: source}


def wait_for_fresh_second():
    # The rate limit counts per wall-clock second; a burst must not straddle two of them.
    fraction = time.time() % 1
    if fraction > 0.7:
        time.sleep(1.02 - fraction)


# --- the corpus, over HTTP ------------------------------------------------------------


@pytest.mark.parametrize("shape", ETHERSCAN_SHAPES)
def test_each_verified_shape_answers_in_the_real_format(client, url, shape):
    address = address_with_shape(shape)
    answer = call(client, url, address)

    assert (answer["status"], answer["message"]) == ("1", "OK")
    [item] = answer["result"]
    assert set(item) == ITEM_KEYS and all(isinstance(v, str) for v in item.values())
    assert isinstance(json.loads(item["ABI"]), list)
    source = item["SourceCode"]
    if shape in ("solidity_single", "vyper_single"):
        assert not source.startswith("{")
    elif shape == "solidity_multi":
        assert source.startswith("{") and not source.startswith("{{")
    else:
        assert source.startswith("{{\r\n  \"language\": ") and source.endswith("\r\n}}")
        document = json.loads(source[1:-1])
        assert document["language"] == ("Vyper" if shape == "vyper_standard_json" else "Solidity")
        assert "settings" in document
    assert item["CompilerVersion"].startswith("vyper:" if shape.startswith("vyper") else "v0.8.")
    assert item["Proxy"] == ("1" if shape == "proxy" else "0")


@pytest.mark.parametrize("shape", ETHERSCAN_SHAPES)
def test_expected_files_equal_what_the_source_code_decodes_to(client, url, shape):
    address = address_with_shape(shape, 1)
    [item] = call(client, url, address)["result"]

    files = decode_files(item)
    assert files == expected_files(1, address)
    assert 1 <= len(files) <= 5
    assert item["ContractFileName"] in files
    for path, content in files.items():
        assert 1000 <= len(content) <= 6 * 1024, path
        assert to_checksum(address) in content  # so no two contracts share a source tree


# What the fake answered for these addresses when its templates lived in Python strings (sha256 of the body,
# first 128 bits): moving or reshaping the corpus must not change a byte of any Etherscan answer.
PINNED_ANSWERS = {
    (1, "0x27895d7718366a8efd9447943d85f530d71d70f7"): "305e50f541b6b0be19396ee8599348f2",  # solidity_single
    (137, "0x27895d7718366a8efd9447943d85f530d71d70f7"): "f5ba734956d29d2b32afa2886798d24c",  # solidity_single
    (1, "0xceb131c6eb2952ec7d20256d4f22e3ba6fef8e80"): "03702db148b0a3ff30540a8f8278c709",  # solidity_single
    (137, "0xceb131c6eb2952ec7d20256d4f22e3ba6fef8e80"): "a38e12ae2339978e7d807152aad47982",  # solidity_single
    (1, "0xa1e68878031588f20969b8552949912e94aaebb1"): "286590764a8cbc560654a014fc8eaaad",  # solidity_multi
    (137, "0xa1e68878031588f20969b8552949912e94aaebb1"): "99f8c1caa424e513e39e3b180b51f4e3",  # solidity_multi
    (1, "0xfa5e4fd6ccae5d516e6226726a39875f1eea9854"): "d2419cfbd25e4c4f6f00f4128ff82e88",  # solidity_multi
    (137, "0xfa5e4fd6ccae5d516e6226726a39875f1eea9854"): "1891c965cf5c20517b391039726496c5",  # solidity_multi
    (1, "0x0d55f157fb83c94763f69a11f554972bee82c9de"): "8a490071493c786dc41946bd9ee85c89",  # solidity_standard_json
    (137, "0x0d55f157fb83c94763f69a11f554972bee82c9de"): "e582ab958b0174fe6d1b6fe51004ca82",  # solidity_standard_json
    (1, "0xa821be643331088cdcd6081c0048a55554a63835"): "aa7887a850e5489d9ce3de51b1081759",  # solidity_standard_json
    (137, "0xa821be643331088cdcd6081c0048a55554a63835"): "1b3996d41d66f351485fda4d23c6991c",  # solidity_standard_json
    (1, "0x90395f94ede0134200b9511d1a26eea394d32199"): "68c9871b940affee52e2581abc996f63",  # vyper_single
    (137, "0x90395f94ede0134200b9511d1a26eea394d32199"): "0a7a72b41e5cebd1d99dc748cb1008e8",  # vyper_single
    (1, "0x14243249b6a46cdbeb87140f9ed9b611b945a312"): "1e00e1a9a666cca46846e0bb6e4c02e0",  # vyper_single
    (137, "0x14243249b6a46cdbeb87140f9ed9b611b945a312"): "039008398535857140a6241c237f77a2",  # vyper_single
    (1, "0x83eab7766015654c6641356e81ae503fbe24794f"): "3a421e468919b2ae7fe59d58b6f806b8",  # vyper_standard_json
    (137, "0x83eab7766015654c6641356e81ae503fbe24794f"): "9ba96e2a01ffb3e1caa9adb9d901dfc9",  # vyper_standard_json
    (1, "0x8d27fe136f65d57c066ab3e2836b5017daee6938"): "d50fc11e59ef5846fbbd3f54128790ea",  # vyper_standard_json
    (137, "0x8d27fe136f65d57c066ab3e2836b5017daee6938"): "c3d1847c871d31e88ac1761caf01f7d4",  # vyper_standard_json
    (1, "0xbcf71983668893b1bcbde8e20dc54dc429e21f22"): "84d106f7ad562dfbded35d1406a83eef",  # unverified
    (137, "0xbcf71983668893b1bcbde8e20dc54dc429e21f22"): "84d106f7ad562dfbded35d1406a83eef",  # unverified
    (1, "0x544cf60c503132bb84951b5b982e7d72d2a99f94"): "84d106f7ad562dfbded35d1406a83eef",  # unverified
    (137, "0x544cf60c503132bb84951b5b982e7d72d2a99f94"): "84d106f7ad562dfbded35d1406a83eef",  # unverified
    (1, "0x900ac8684bb35b4d366bae6d8057fc661584733b"): "253183bf4564d45c95880df6d5efedc1",  # proxy
    (137, "0x900ac8684bb35b4d366bae6d8057fc661584733b"): "9f005014350d8686d8d038488e17ced1",  # proxy
    (1, "0x439b7d1fa047196250e59cd3c1dd0d60e849f66c"): "2f934982e65bdb9757a987856f5f3ba6",  # proxy
    (137, "0x439b7d1fa047196250e59cd3c1dd0d60e849f66c"): "f9820cee0e645b5023359ee0276e765e",  # proxy
    (1, "0xbad0b7766015654c6641356e81ae503fbe24794f"): "cbebc9ff5e2f23d7e1ed66c14283acb1",  # invalid_address
    (137, "0xbad0b7766015654c6641356e81ae503fbe24794f"): "cbebc9ff5e2f23d7e1ed66c14283acb1",  # invalid_address
    (1, "0xbad08878031588f20969b8552949912e94aaebb1"): "cbebc9ff5e2f23d7e1ed66c14283acb1",  # invalid_address
    (137, "0xbad08878031588f20969b8552949912e94aaebb1"): "cbebc9ff5e2f23d7e1ed66c14283acb1",  # invalid_address
    (1, "0xe770b7766015654c6641356e81ae503fbe24794f"): "20b5c5cce629cd398d438e4b25d06d18",  # etherscan_error
    (137, "0xe770b7766015654c6641356e81ae503fbe24794f"): "20b5c5cce629cd398d438e4b25d06d18",  # etherscan_error
    (1, "0xe7708878031588f20969b8552949912e94aaebb1"): "20b5c5cce629cd398d438e4b25d06d18",  # etherscan_error
    (137, "0xe7708878031588f20969b8552949912e94aaebb1"): "20b5c5cce629cd398d438e4b25d06d18",  # etherscan_error
}


def test_etherscan_answers_stay_byte_for_byte_what_they_were(client, url):
    for (chainid, address), digest in PINNED_ANSWERS.items():
        response = client.get(url, params={"chainid": chainid, "module": "contract", "action": "getsourcecode",
                                           "address": address})
        assert hashlib.sha256(response.content).hexdigest()[:32] == digest, (chainid, address)


def test_source_trees_carry_nested_dependency_paths():
    paths = {p for shape in ETHERSCAN_SHAPES for n in range(6) for p in expected_files(1, address_with_shape(shape, n))}
    assert "contracts/token/ERC20.sol" in paths
    assert "@openzeppelin/contracts/utils/Address.sol" in paths
    assert ".venv/lib/python3.12/site-packages/snekmate/auth/ownable.vy" in paths


def test_some_solidity_contracts_link_a_library():
    libraries = [
        getsourcecode_answer(1, address_with_shape("solidity_standard_json", n))["result"][0]["Library"]
        for n in range(20)
    ]
    linked = [lib for lib in libraries if lib]
    assert 0 < len(linked) < len(libraries)
    assert all(lib.startswith("SafeMathLib:0x") for lib in linked)


@pytest.mark.parametrize("shape", ELSEWHERE_SHAPES)
def test_contracts_etherscan_does_not_verify_get_its_not_verified_answer(client, url, shape):
    assert call(client, url, address_with_shape(shape)) == UNVERIFIED_ANSWER


def test_a_contract_no_explorer_verifies_has_no_expected_files():
    assert expected_files(1, address_with_shape("unverified")) == {}


def test_answers_are_deterministic_and_ignore_address_case(client, url):
    address = address_with_shape("solidity_multi")
    first = client.get(url, params={"chainid": 1, "module": "contract", "action": "getsourcecode", "address": address})
    again = client.get(url, params={"chainid": 1, "module": "contract", "action": "getsourcecode",
                                    "address": address.lower()})
    assert first.content == again.content
    assert first.json() == getsourcecode_answer(1, address)


def test_different_addresses_get_different_sources():
    sources = {getsourcecode_answer(1, address_with_shape("vyper_single", n))["result"][0]["SourceCode"]
               for n in range(5)}
    assert len(sources) == 5


def test_shapes_are_spread_roughly_evenly():
    addresses = ["0x" + hashlib.sha256(str(i).encode()).hexdigest()[:40] for i in range(7000)]
    counts = Counter(shape_of(a) for a in addresses)
    for shape in ETHERSCAN_SHAPES:  # a seventh each
        assert 800 <= counts[shape] <= 1200, counts
    # The seventh Etherscan does not verify, split four ways.
    assert 800 <= sum(counts[shape] for shape in ELSEWHERE_SHAPES) <= 1200, counts
    for shape in ELSEWHERE_SHAPES:
        assert 150 <= counts[shape] <= 350, counts


def test_each_shape_is_verified_by_one_explorer_only(client, url):
    root = url.removesuffix("/v2/api")
    for shape in SHAPES:
        address = address_with_shape(shape, 4)
        answer = call(client, url, address)
        on_etherscan = answer["status"] == "1" and answer["result"][0]["SourceCode"] != ""
        on_sourcify = client.get(f"{root}/sourcify/server/v2/contract/1/{address}").status_code == 200
        on_blockscout = "source_code" in client.get(f"{root}/blockscout/1/api/v2/smart-contracts/{address}").json()
        verified_by = {name for name, verified in (("etherscan", on_etherscan), ("sourcify", on_sourcify),
                                                   ("blockscout", on_blockscout)) if verified}
        assert verified_by == ({verifier_of(address)} if verifier_of(address) else set()), shape


def test_every_form_is_found_among_the_contracts_etherscan_does_not_verify():
    for shape in ELSEWHERE_SHAPES:
        for form in ETHERSCAN_SHAPES:
            address = address_with_shape(shape, 1, form=form)
            assert (shape_of(address), form_of(address)) == (shape, form)
    assert form_of(address_with_shape("vyper_single")) == "vyper_single"
    assert form_of(address_with_shape("invalid_address")) is None
    for shape, form in (("proxy", "vyper_single"), ("etherscan_error", "proxy"), ("blockscout", "no_such_form")):
        with pytest.raises(ValueError):
            address_with_shape(shape, form=form)


def test_a_proxy_verified_elsewhere_points_at_an_implementation_etherscan_verifies():
    proxy = address_with_shape("sourcify_match", 0, form="proxy")
    implementation = implementation_of(proxy)
    assert implementation and verifier_of(implementation) == "etherscan" and form_of(implementation) != "proxy"
    assert implementation_of(address_with_shape("unverified", 0, form="proxy")) is None


def test_address_with_shape_gives_distinct_checksummed_addresses_of_that_shape():
    for shape in SHAPES:
        first, second = address_with_shape(shape, 0), address_with_shape(shape, 1)
        assert first != second
        for address in (first, second):
            assert shape_of(address) == shape
            assert address == to_checksum(address)
    with pytest.raises(ValueError):
        address_with_shape("no_such_shape")



def test_proxy_points_at_a_verified_non_proxy_implementation(client, url):
    proxy = address_with_shape("proxy", 2)
    [item] = call(client, url, proxy)["result"]
    assert item["Proxy"] == "1"
    assert item["Implementation"] == implementation_of(proxy)
    assert item["Implementation"] == item["Implementation"].lower()

    [implementation] = call(client, url, item["Implementation"])["result"]
    assert implementation["SourceCode"] and implementation["ABI"] != "Contract source code not verified"
    assert implementation["Proxy"] == "0"
    assert implementation_of(address_with_shape("solidity_single")) is None


# --- errors ----------------------------------------------------------------------------


def test_bad0_prefix_is_rejected_as_an_invalid_address(client, url):
    for address in ("0xbad0" + "1" * 36, "0xBAD0" + "ab" * 18):
        assert call(client, url, address) == notok("Error! Invalid address format")


def test_e770_prefix_gets_a_permanent_etherscan_error(client, url):
    for address in ("0xe770" + "2" * 36, "0xE770" + "Cd" * 18):
        assert call(client, url, address) == notok("Error! Contract source code unavailable")
    assert expected_files(1, "0xe770" + "2" * 36) == {}


@pytest.mark.parametrize("address", ["0x123", "0x" + "g" * 40, "1" * 42, "0x" + "a" * 41, None])
def test_malformed_address_gets_the_invalid_address_answer(client, url, address):
    assert call(client, url, address) == notok("Error! Invalid address format")


@pytest.mark.parametrize("chainid", [None, 999999, "abc", ""])
def test_missing_or_unsupported_chain_is_rejected(client, url, chainid):
    answer = call(client, url, address_with_shape("solidity_single"), chainid=chainid)
    assert answer["status"] == "0"
    assert answer["result"].startswith("Missing or unsupported chainid parameter (required for v2 api)")


def test_other_supported_chains_and_the_v1_path_answer_too(client, url):
    address = address_with_shape("solidity_single")
    assert call(client, url, address, chainid=8453) == getsourcecode_answer(8453, address)
    assert call(client, url.replace("/v2/api", "/api"), address)["status"] == "1"


def test_unknown_module_or_action_is_rejected(client, url):
    address = address_with_shape("solidity_single")
    assert call(client, url, address, module="account") == notok("Error! Missing Or invalid Module name")
    assert call(client, url, address, action="getabi") == notok("Error! Missing Or invalid Action name")


def test_any_key_or_none_is_accepted_when_no_keys_are_configured(client, url):
    assert call(client, url, address_with_shape("vyper_single"), apikey="whatever")["status"] == "1"
    assert call(client, url, address_with_shape("vyper_single"), apikey=None)["status"] == "1"


def test_unknown_key_is_rejected_when_keys_are_configured(client):
    address = address_with_shape("solidity_multi")
    with running(FakeConfig(api_keys=("key-a", "key-b"))) as url:
        assert call(client, url, address, apikey="key-b")["status"] == "1"
        assert call(client, url, address, apikey="key-c") == notok("Invalid API Key")
        assert call(client, url, address, apikey=None) == notok("Invalid API Key")


# --- rate limit, budget and stats -------------------------------------------------------


def test_rate_limit_answers_once_the_key_window_is_full_and_stats_count_it(client):
    address = address_with_shape("solidity_single")
    with running(FakeConfig(rate_limit=3)) as url:
        wait_for_fresh_second()
        results = [call(client, url, address, apikey="busy")["result"] for _ in range(5)]
        other_key = call(client, url, address, apikey="quiet")
        counters = stats(client, url)

    assert all(isinstance(r, list) for r in results[:3])
    assert results[3:] == ["Max calls per sec rate limit reached (3/sec)"] * 2
    assert other_key["status"] == "1"
    assert counters["over_budget"] == 2 and counters["rate_limited"] == 2
    assert list(counters["per_key_per_second"]["busy"].values()) == [5]
    assert counters["max_per_key_per_second"] == {"busy": 5, "quiet": 1}


def test_budget_counts_calls_over_it_without_rejecting_them(client):
    address = address_with_shape("vyper_standard_json")
    with running(FakeConfig(budget=2)) as url:
        wait_for_fresh_second()
        answers = [call(client, url, address, apikey="k") for _ in range(4)]
        counters = stats(client, url)
    assert all(a["status"] == "1" for a in answers)
    assert counters["over_budget"] == 2 and counters["rate_limited"] == 0


def test_stats_count_calls_per_key_and_reset_zeroes_them(client):
    address = address_with_shape("unverified")
    with running(FakeConfig()) as url:
        for key in ("a", "a", "b", None):
            call(client, url, address, apikey=key)
        counters = stats(client, url)
        reset = client.post(url.replace("/v2/api", "/_fake/reset")).json()
        after = stats(client, url)

    assert counters["calls"] == 4
    assert counters["max_per_key_per_second"] == {"a": 2, "b": 1, "(none)": 1}
    assert sum(counters["per_key_per_second"]["a"].values()) == 2
    assert after == reset
    zero = {"calls": 0, "over_budget": 0, "rate_limited": 0, "faults": {"error": 0, "timeout": 0, "rate_limit": 0},
            "per_key_per_second": {}, "max_per_key_per_second": {}}
    assert after == {**zero, "calls_by_provider": {"etherscan": 0, "sourcify": 0, "blockscout": 0},
                     "providers": {"etherscan": zero, "sourcify": zero, "blockscout": zero}, "chain_lists": zero}


def test_chain_list_calls_count_apart_from_the_contract_calls(client):
    with running(FakeConfig()) as url:
        urls = explorer_urls(url, [1])
        client.get(url.replace("/v2/api", "/v2/chainlist"))
        client.get(f"{urls['SOURCIFY_API_URL']}/chains")
        counters = stats(client, url)

    assert counters["calls"] == 0
    assert counters["calls_by_provider"] == {"etherscan": 0, "sourcify": 0, "blockscout": 0}
    assert counters["chain_lists"]["calls"] == 2


def test_blockscout_can_serve_chains_the_others_do_not(client):
    address = address_with_shape("blockscout")
    with running(FakeConfig(supported_chains=frozenset({1}), blockscout_chains=frozenset({1, 777}))) as url:
        root = url.removesuffix("/v2/api")
        blockscout = client.get(f"{root}/blockscout/777/api/v2/smart-contracts/{address}")
        sourcify = client.get(f"{root}/sourcify/server/v2/contract/777/{address}")
        etherscan = call(client, url, address, chainid=777)

    assert blockscout.status_code == 200 and blockscout.json()["is_verified"] is True
    assert sourcify.status_code == 404 and sourcify.json()["customCode"] == "unsupported_chain"
    assert "unsupported chainid" in etherscan["result"]


def test_each_explorer_counts_its_own_calls_and_the_top_level_counters_stay_etherscans(client):
    address = address_with_shape("sourcify_match")
    with running(FakeConfig()) as url:
        urls = explorer_urls(url, [1])
        call(client, url, address, apikey="k")
        for _ in range(2):
            client.get(f"{urls['SOURCIFY_API_URL']}/v2/contract/1/{address}")
        client.get(f"{url.removesuffix('/v2/api')}/blockscout/1/api/v2/smart-contracts/{address}",
                   params={"apikey": "bk"})
        counters = stats(client, url)

    assert counters["calls"] == 1 and counters["max_per_key_per_second"] == {"k": 1}
    assert counters["calls_by_provider"] == {"etherscan": 1, "sourcify": 2, "blockscout": 1}
    assert counters["providers"]["etherscan"]["calls"] == 1
    assert counters["providers"]["sourcify"]["max_per_key_per_second"] == {"(none)": 2}  # Sourcify takes no key
    assert counters["providers"]["blockscout"]["max_per_key_per_second"] == {"bk": 1}


def test_sourcify_and_blockscout_have_rate_limits_of_their_own(client):
    address = address_with_shape("blockscout")
    with running(FakeConfig(rate_limit=1, sourcify_rate_limit=2, blockscout_rate_limit=1)) as url:
        root = url.removesuffix("/v2/api")
        wait_for_fresh_second()
        sourcify = [client.get(f"{root}/sourcify/server/v2/contract/1/{address}") for _ in range(3)]
        blockscout = [client.get(f"{root}/blockscout/1/api/v2/smart-contracts/{address}") for _ in range(2)]
        etherscan = call(client, url, address)
        counters = stats(client, url)["providers"]

    assert [r.status_code for r in sourcify] == [404, 404, 429]  # not verified there, then limited
    assert sourcify[2].json()["customCode"] == "too_many_requests"
    assert [r.status_code for r in blockscout] == [200, 429]
    assert blockscout[1].json() == {"message": "Too Many Requests"}
    assert etherscan["status"] == "1"  # Etherscan's window is its own
    assert (counters["sourcify"]["rate_limited"], counters["sourcify"]["over_budget"]) == (1, 1)
    assert (counters["blockscout"]["rate_limited"], counters["etherscan"]["rate_limited"]) == (1, 0)


def test_explorer_urls_point_a_scanner_at_every_fake_explorer():
    assert explorer_urls("http://127.0.0.1:8545/v2/api", [10, 1]) == {
        "ETHERSCAN_API_URL": "http://127.0.0.1:8545/v2/api",
        "SOURCIFY_API_URL": "http://127.0.0.1:8545/sourcify/server",
        "BLOCKSCOUT_API_URLS": "1=http://127.0.0.1:8545/blockscout/1,10=http://127.0.0.1:8545/blockscout/10",
    }


# --- injected faults ------------------------------------------------------------------


def test_injected_error_is_an_http_502_with_an_html_body(client):
    with running(FakeConfig(error_rate=1.0)) as url:
        response = client.get(url, params={"chainid": 1, "module": "contract", "action": "getsourcecode",
                                           "address": address_with_shape("solidity_single")})
        counters = stats(client, url)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert counters["faults"]["error"] == 1


def test_injected_timeout_hangs_before_answering(client):
    address = address_with_shape("solidity_single")
    with running(FakeConfig(timeout_rate=1.0, hang_s=0.3)) as url:
        with pytest.raises(httpx.ReadTimeout):
            client.get(url, params={"chainid": 1, "module": "contract", "action": "getsourcecode",
                                    "address": address}, timeout=0.1)
        started = time.monotonic()
        patient = call(client, url, address)
        waited = time.monotonic() - started
        counters = stats(client, url)
    assert waited >= 0.3
    assert patient == getsourcecode_answer(1, address)
    assert counters["faults"]["timeout"] == 2


def test_injected_rate_limit_answers_like_etherscan(client):
    with running(FakeConfig(rate_limit_rate=1.0)) as url:
        answer = call(client, url, address_with_shape("solidity_single"))
        counters = stats(client, url)
    assert answer == notok("Max calls per sec rate limit reached (5/sec)")
    assert counters["faults"] == {"error": 0, "timeout": 0, "rate_limit": 1}


def test_injected_faults_hit_every_explorer_in_its_own_format(client):
    address = address_with_shape("sourcify_exact_match")
    with running(FakeConfig(rate_limit_rate=1.0)) as url:
        root = url.removesuffix("/v2/api")
        sourcify = client.get(f"{root}/sourcify/server/v2/contract/1/{address}")
        blockscout = client.get(f"{root}/blockscout/1/api/v2/smart-contracts/{address}")
    with running(FakeConfig(error_rate=1.0)) as url:
        root = url.removesuffix("/v2/api")
        pages = [client.get(f"{root}/sourcify/server/v2/contract/1/{address}"),
                 client.get(f"{root}/blockscout/1/api/v2/smart-contracts/{address}")]
        counters = stats(client, url)["providers"]

    assert (sourcify.status_code, sourcify.json()["customCode"]) == (429, "too_many_requests")
    assert (blockscout.status_code, blockscout.json()) == (429, {"message": "Too Many Requests"})
    assert all(page.status_code == 502 and "502 Bad Gateway" in page.text for page in pages)
    assert counters["sourcify"]["faults"]["error"] == counters["blockscout"]["faults"]["error"] == 1


def test_latency_is_added_to_every_call(client):
    with running(FakeConfig(latency_ms=150)) as url:
        started = time.monotonic()
        call(client, url, address_with_shape("unverified"))
        assert time.monotonic() - started >= 0.14


def test_fault_rates_beyond_one_are_refused():
    with pytest.raises(ValueError):
        FakeConfig(error_rate=0.6, timeout_rate=0.6)


# --- running it ------------------------------------------------------------------------


def test_running_stops_the_server_on_exit(client):
    with running(FakeConfig()) as url:
        assert call(client, url, address_with_shape("unverified"))["status"] == "1"
    with pytest.raises(httpx.ConnectError):
        client.get(url)


def test_cli_options_default_to_environment_variables(monkeypatch):
    monkeypatch.setenv("FAKE_ETHERSCAN_RATE_LIMIT", "7")
    monkeypatch.setenv("FAKE_ETHERSCAN_API_KEYS", "a, b,")
    monkeypatch.setenv("FAKE_ETHERSCAN_PORT", "9000")
    config, host, port = parse_args([])
    assert (config.rate_limit, config.api_keys, host, port) == (7, ("a", "b"), "127.0.0.1", 9000)

    config, _, port = parse_args(["--rate-limit", "3", "--port", "1234", "--error-rate", "0.1"])
    assert (config.rate_limit, port, config.error_rate) == (3, 1234, 0.1)


def test_cli_sets_the_other_explorers_rate_limits(monkeypatch):
    monkeypatch.setenv("FAKE_ETHERSCAN_SOURCIFY_RATE_LIMIT", "4")
    config, _, _ = parse_args(["--blockscout-rate-limit", "9"])
    assert (config.sourcify_rate_limit, config.blockscout_rate_limit, config.rate_limit) == (4, 9, 0)
    assert config.limits("sourcify") == (4, 4) and config.limits("blockscout") == (9, 9)
