"""The fake Sourcify (API v2) and Blockscout (REST API v2) and Etherscan's chain list, over real HTTP."""

import httpx
import pytest

from ethsource.addresses import to_checksum
from ethsource_local.fake_etherscan import (
    ETHERSCAN_SHAPES,
    FakeConfig,
    address_with_shape,
    contract_of,
    expected_files,
    explorer_urls,
    implementation_of,
    running,
)

SOURCIFY_ALL_FIELDS = [
    "match", "creationMatch", "runtimeMatch", "chainId", "address", "verifiedAt", "matchId", "creationBytecode",
    "runtimeBytecode", "deployment", "sources", "compilation", "abi", "metadata", "storageLayout",
    "transientStorageLayout", "userdoc", "devdoc", "sourceIds", "stdJsonInput", "stdJsonOutput", "signatures",
    "proxyResolution",
]
SOURCIFY_MINIMAL = ["match", "creationMatch", "runtimeMatch", "chainId", "address", "verifiedAt", "matchId"]


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture(scope="module")
def urls():
    with running(FakeConfig()) as api_url:
        yield explorer_urls(api_url)


def sourcify(client, urls, address, chain_id=1, **params):
    return client.get(f"{urls['SOURCIFY_API_URL']}/v2/contract/{chain_id}/{address}", params=params)


def blockscout(client, urls, address, chain_id=1):
    instances = dict(entry.split("=", 1) for entry in urls["BLOCKSCOUT_API_URLS"].split(","))
    return client.get(f"{instances[str(chain_id)]}/api/v2/smart-contracts/{address}")


def assert_sourcify_error(response, status, code):
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"customCode", "message", "errorId"} and body["customCode"] == code
    return body["message"]


# --- Sourcify -------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "match"), [("sourcify_exact_match", "exact_match"), ("sourcify_match", "match")])
@pytest.mark.parametrize("form", ETHERSCAN_SHAPES)
def test_sourcify_serves_every_field_of_a_contract_it_verifies(client, urls, shape, match, form):
    address = address_with_shape(shape, 0, form=form)
    response = sourcify(client, urls, address, fields="all")

    assert response.status_code == 200
    answer = response.json()
    contract = contract_of(1, address)
    assert list(answer) == SOURCIFY_ALL_FIELDS
    assert (answer["match"], answer["creationMatch"], answer["runtimeMatch"]) == (match, match, match)
    assert (answer["chainId"], answer["address"]) == ("1", to_checksum(address))
    assert {path: entry["content"] for path, entry in answer["sources"].items()} == expected_files(1, address)
    compilation = answer["compilation"]
    assert compilation["fullyQualifiedName"] == f"{contract.main_path}:{contract.name}"
    assert compilation["language"] == ("Vyper" if form.startswith("vyper") else "Solidity")
    assert not compilation["compilerVersion"].startswith(("v", "vyper"))  # Sourcify answers without a prefix
    assert "outputSelection" not in compilation["compilerSettings"]
    assert isinstance(answer["abi"], list) and isinstance(answer["metadata"], dict)
    proxy = answer["proxyResolution"]
    assert proxy["isProxy"] == (form == "proxy")
    assert [i["address"].lower() for i in proxy["implementations"]] == ([implementation_of(address)]
                                                                        if form == "proxy" else [])


def test_sourcify_answers_the_minimal_fields_unless_asked_for_more(client, urls):
    address = address_with_shape("sourcify_match", 2)
    assert list(sourcify(client, urls, address).json()) == SOURCIFY_MINIMAL
    picked = sourcify(client, urls, address, fields="abi,compilation.name").json()
    assert list(picked) == [*SOURCIFY_MINIMAL, "abi", "compilation"]
    assert picked["compilation"] == {"name": contract_of(1, address).name}
    trimmed = sourcify(client, urls, address, omit="sources,stdJsonInput,compilation.compilerSettings").json()
    assert "sources" not in trimmed and "stdJsonInput" not in trimmed and "abi" in trimmed
    assert "compilerSettings" not in trimmed["compilation"] and "name" in trimmed["compilation"]


@pytest.mark.parametrize(("params", "says"), [
    ({"fields": "abi", "omit": "sources"}, "Cannot specify both fields and omit"),
    ({"fields": "all,abi"}, "Cannot specify 'all' with other fields"),
    ({"fields": "bytecode"}, "Field selector bytecode is not a valid field"),
    ({"omit": "compilation.nope"}, "Field selector compilation.nope is not a valid field"),
    ({"fields": "compilation.name.first"}, "Field selector cannot have more than one level subselectors"),
])
def test_sourcify_refuses_a_bad_field_selection(client, urls, params, says):
    address = address_with_shape("sourcify_exact_match")
    assert says in assert_sourcify_error(sourcify(client, urls, address, **params), 400, "invalid_parameter")


@pytest.mark.parametrize("shape", ["unverified", "blockscout", "solidity_single", "invalid_address"])
def test_sourcify_answers_404_with_a_null_match_for_what_it_does_not_verify(client, urls, shape):
    address = address_with_shape(shape)
    response = sourcify(client, urls, address.lower(), fields="all")
    assert response.status_code == 404
    assert response.json() == {"match": None, "creationMatch": None, "runtimeMatch": None, "chainId": "1",
                               "address": address}


def test_sourcify_refuses_an_unknown_chain_and_a_malformed_address(client, urls):
    address = address_with_shape("sourcify_match")
    assert assert_sourcify_error(sourcify(client, urls, address, chain_id=999), 404,
                                 "unsupported_chain") == "Chain 999 not found"
    assert assert_sourcify_error(sourcify(client, urls, "0x1234"), 400,
                                 "invalid_parameter") == "Invalid address: 0x1234"


def test_sourcify_lists_its_chains(client, urls):
    chains = client.get(f"{urls['SOURCIFY_API_URL']}/chains").json()
    mainnet = next(chain for chain in chains if chain["chainId"] == 1)
    assert mainnet["name"] == "Ethereum Mainnet" and mainnet["supported"] is True
    assert {"title", "rpc", "traceSupportedRPCs", "etherscanAPI"} <= set(mainnet)


# --- Blockscout -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ETHERSCAN_SHAPES)
def test_blockscout_serves_the_sources_and_facts_of_a_contract_it_verifies(client, urls, form):
    address = address_with_shape("blockscout", 0, form=form)
    response = blockscout(client, urls, address)

    assert response.status_code == 200
    answer = response.json()
    contract = contract_of(1, address)
    served = {answer["file_path"]: answer["source_code"],
              **{extra["file_path"]: extra["source_code"] for extra in answer["additional_sources"]}}
    assert served == expected_files(1, address)
    assert answer["is_verified"] is True and answer["is_fully_verified"] != answer["is_partially_verified"]
    assert answer["name"] == contract.name and answer["compiler_version"].startswith("v")
    assert answer["language"] == ("vyper" if form.startswith("vyper") else "solidity")
    assert isinstance(answer["optimization_enabled"], bool) and isinstance(answer["abi"], list)
    assert answer["license_type"] in ("mit", "gnu_gpl_v3", "none")
    assert answer["proxy_type"] == ("eip1967" if form == "proxy" else None)
    assert [i["address_hash"].lower() for i in answer["implementations"]] == ([implementation_of(address)]
                                                                              if form == "proxy" else [])


def test_blockscout_links_the_library_a_vault_uses(client, urls):
    vaults = (address_with_shape("blockscout", n, form="solidity_standard_json") for n in range(40))
    address = next(a for a in vaults if contract_of(1, a).libraries)
    [library] = blockscout(client, urls, address).json()["external_libraries"]
    assert library["name"] == "SafeMathLib" and library["address_hash"] == to_checksum(library["address_hash"])


@pytest.mark.parametrize("shape", ["unverified", "sourcify_exact_match", "proxy"])
def test_blockscout_shows_a_contract_it_does_not_verify_without_sources(client, urls, shape):
    answer = blockscout(client, urls, address_with_shape(shape)).json()
    assert "source_code" not in answer and "is_verified" not in answer
    assert answer["deployed_bytecode"].startswith("0x")
    assert (answer["proxy_type"] == "eip1967") == (shape == "proxy")


def test_blockscout_answers_404_for_what_is_no_contract_and_422_for_a_malformed_address(client, urls):
    for shape in ("invalid_address", "etherscan_error"):
        response = blockscout(client, urls, address_with_shape(shape))
        assert (response.status_code, response.json()) == (404, {"message": "Not found"})
    response = blockscout(client, urls, "0xnot-an-address")
    assert (response.status_code, response.json()) == (422, {"message": "Invalid parameter(s)"})


def test_blockscout_has_no_instance_for_an_unknown_chain(client, urls):
    root = urls["ETHERSCAN_API_URL"].removesuffix("/v2/api")
    response = client.get(f"{root}/blockscout/999/api/v2/smart-contracts/{address_with_shape('blockscout')}")
    assert response.status_code == 404 and not response.headers["content-type"].startswith("application/json")


# --- Etherscan's chain list -----------------------------------------------------------------


def test_etherscan_chainlist_lists_every_chain_with_its_api_url_on_the_fake(client, urls):
    api = urls["ETHERSCAN_API_URL"]
    answer = client.get(api.replace("/v2/api", "/v2/chainlist")).json()
    assert set(answer) == {"comments", "totalcount", "result"} and answer["totalcount"] == len(answer["result"])
    mainnet = next(chain for chain in answer["result"] if chain["chainid"] == "1")
    assert mainnet == {"chainname": "Ethereum Mainnet", "chainid": "1", "blockexplorer": "https://etherscan.io",
                       "apiurl": f"{api}?chainid=1", "status": 1, "comment": ""}
