"""download: a scanned contract's source tree as a zip, as JSON, or as a project `forge build` accepts."""

import re

from mangum import Mangum

from ethsource import foundry, lookup, sources
from ethsource.addresses import parse_address, parse_chain
from ethsource.batching import blocking_runner
from ethsource.config import get_settings
from ethsource.http import Answer, ApiRequest, create_app
from ethsource.lambda_runtime import lambda_entry
from ethsource.models import DownloadQuery, ErrorBody
from ethsource.services import services

app = create_app("download", settings=get_settings(), description="Download the verified source of a scanned contract.",
                 health_checks={"database": lambda: services().database.ping()},
                 warm_up=lambda: services().chains.refresh())
run_blocking = blocking_runner("download")  # the query, decompressing and zipping: all off the event loop


@app.route("GET", "/contracts/{address}/source", query=DownloadQuery, responses={
    200: (None, "the source files with metadata.json and abi.json: a zip, or JSON with `format=json`"),
    409: (ErrorBody, "not scanned (yet), or the scan failed")})
async def download(request: ApiRequest) -> Answer:
    """A contract's source"""
    chain_id = parse_chain(request.query.chain_id, services().chains)
    address = parse_address(request.path_params["address"])
    return await run_blocking(_render, chain_id, address, request.query.format)


def _render(chain_id: int, address: str, format: str) -> Answer:
    contract, source = lookup.get_source(services().store, chain_id, address)
    if format == "json":
        return Answer(200, {"address": contract.address, "chain_id": contract.chain_id, **sources.to_json(source)})
    archive = foundry.to_zip(source) if format == "foundry" else sources.to_zip(source)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", contract.contract_name or "contract")  # it comes from an explorer
    suffix = "-foundry" if format == "foundry" else ""
    disposition = f'attachment; filename="{name}-{contract.chain_id}-{contract.address}{suffix}.zip"'
    return Answer(200, archive, [(b"content-disposition", disposition.encode())], media_type=b"application/zip")


handler = lambda_entry("download")(Mangum(app, lifespan="off"))
