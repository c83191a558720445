"""download: a scanned contract's source tree as a zip (or JSON)."""

import re
from typing import Literal

from fastapi.responses import JSONResponse, Response
from mangum import Mangum

from ethsource import contracts, sources
from ethsource.addresses import parse_address, parse_chain
from ethsource.db import get_database
from ethsource.http import ERROR_RESPONSES, create_app
from ethsource.models import ErrorBody

app = create_app(
    "download",
    health_checks={"database": lambda: get_database().ping()},
    description="Download the verified source of a scanned contract.",
)


@app.get(
    "/contracts/{address}/source", tags=["contracts"], response_class=Response,
    responses={200: {"content": {"application/zip": {}, "application/json": {}},
                     "description": "the source files with metadata.json and abi.json"},
               409: {"model": ErrorBody, "description": "not scanned (yet), or the scan failed"}, **ERROR_RESPONSES},
)
def download(address: str, chain_id: int = 1, format: Literal["zip", "json"] = "zip") -> Response:
    contract, source = contracts.get_source(parse_chain(chain_id), parse_address(address))
    if format == "json":
        return JSONResponse({"address": contract.address, "chain_id": contract.chain_id, **sources.to_json(source)})
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", contract.contract_name or "contract")  # it comes from Etherscan
    filename = f"{name}-{contract.chain_id}-{contract.address}.zip"
    return Response(sources.to_zip(source), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


handler = Mangum(app, lifespan="off")
