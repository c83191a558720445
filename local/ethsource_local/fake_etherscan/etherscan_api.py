"""The fake Etherscan API v2: ``getsourcecode`` and ``/v2/chainlist``, in Etherscan's wire format.

Every ``getsourcecode`` outcome is HTTP 200 with ``status``/``message``/``result``, errors included.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from functools import lru_cache

from starlette.requests import Request
from starlette.responses import Response

from .chains import CHAINS, chain_id_of
from .corpus import contract_of
from .shapes import ADDRESS_RE, VERIFIER, shape_of

INVALID_ADDRESS_ANSWER = {"status": "0", "message": "NOTOK", "result": "Error! Invalid address format"}
SOURCE_UNAVAILABLE_ANSWER = {"status": "0", "message": "NOTOK", "result": "Error! Contract source code unavailable"}
UNVERIFIED_ITEM = {
    "SourceCode": "",
    "ABI": "Contract source code not verified",
    "ContractName": "",
    "CompilerVersion": "",
    "OptimizationUsed": "",
    "Runs": "",
    "ConstructorArguments": "",
    "EVMVersion": "Default",
    "Library": "",
    "LicenseType": "Unknown",
    "Proxy": "0",
    "Implementation": "",
    "SwarmSource": "",
}


def getsourcecode_answer(chain_id: int, address: str) -> dict:
    """The whole JSON answer Etherscan gives to ``getsourcecode`` for this address."""
    if not ADDRESS_RE.fullmatch(address):
        return dict(INVALID_ADDRESS_ANSWER)
    shape = shape_of(address)
    if shape == "invalid_address":
        return dict(INVALID_ADDRESS_ANSWER)
    if shape == "etherscan_error":
        return dict(SOURCE_UNAVAILABLE_ANSWER)
    item = contract_of(chain_id, address).etherscan_item if VERIFIER[shape] == "etherscan" else UNVERIFIED_ITEM
    return {"status": "1", "message": "OK", "result": [dict(item)]}


def _dumps(answer: dict) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def json_answer(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _notok(result: str) -> bytes:
    return _dumps({"status": "0", "message": "NOTOK", "result": result})


def rate_limited_body(limit: float) -> bytes:
    """Etherscan's answer to a key over its plan's rate, which it states."""
    return _notok(f"Max calls per sec rate limit reached ({limit:g}/sec)")


_UNSUPPORTED_CHAIN = _notok(
    "Missing or unsupported chainid parameter (required for v2 api), please see "
    "https://api.etherscan.io/v2/chainlist for the list of supported chainids"
)
_INVALID_KEY = _notok("Invalid API Key")
_BAD_MODULE = _notok("Error! Missing Or invalid Module name")
_BAD_ACTION = _notok("Error! Missing Or invalid Action name")


def getsourcecode(
    request: Request, *, chains: Collection[int], keys: Collection[str], over_limit: Callable[[], bool],
    rate_limited_body: bytes,
) -> Response:
    """Checks in Etherscan's order: the chain, the key, the key's rate, then the query itself."""
    params = request.query_params
    chain_id = chain_id_of(params.get("chainid"))
    if chain_id not in chains:
        return json_answer(_UNSUPPORTED_CHAIN)
    if keys and params.get("apikey", "") not in keys:
        return json_answer(_INVALID_KEY)
    if over_limit():
        return json_answer(rate_limited_body)
    if params.get("module") != "contract":
        return json_answer(_BAD_MODULE)
    if params.get("action") != "getsourcecode":
        return json_answer(_BAD_ACTION)
    address = params.get("address", "")
    if not ADDRESS_RE.fullmatch(address):
        return json_answer(_dumps(INVALID_ADDRESS_ANSWER))
    return json_answer(_answer_body(chain_id, address.lower()))


def chainlist(
    request: Request, *, chains: Collection[int], over_limit: Callable[[], bool], rate_limited_body: bytes,
) -> Response:
    """``/v2/chainlist``: every chain the fake serves, its API URL on this fake. It takes no key."""
    if over_limit():
        return json_answer(rate_limited_body)
    api = f"{str(request.base_url).rstrip('/')}/v2/api"
    result = [
        {"chainname": chain["name"], "chainid": str(chain["chainid"]), "blockexplorer": chain["blockexplorer"],
         "apiurl": f"{api}?chainid={chain['chainid']}", "status": 1, "comment": ""}
        for chain in CHAINS if chain["chainid"] in chains
    ]
    comments = "Etherscan API v2 supported chains; status 1 = OK, 0 = offline, 2 = degraded"
    return json_answer(_dumps({"comments": comments, "totalcount": len(result), "result": result}))


@lru_cache(maxsize=2048)
def _answer_body(chain_id: int, address: str) -> bytes:
    return _dumps(getsourcecode_answer(chain_id, address))

