"""status: a contract's scan status and what is known about it."""

from fastapi import Response
from mangum import Mangum

from ethsource import contracts
from ethsource.addresses import parse_address, parse_chain
from ethsource.batching import MicroBatcher
from ethsource.db import get_database
from ethsource.http import ERROR_RESPONSES, create_app
from ethsource.models import Contract

app = create_app(
    "status",
    health_checks={"database": lambda: get_database().ping()},
    description="Poll the status of a submitted contract.",
)

# Concurrent polls share one query (see ethsource.batching).
lookups = MicroBatcher(contracts.get_many)


@app.get("/contracts/{address}", response_model=Contract, tags=["contracts"], responses=ERROR_RESPONSES)
async def status(address: str, chain_id: int = 1) -> Response:
    contract = await lookups((parse_chain(chain_id), parse_address(address)))
    return Response(contract.model_dump_json(), media_type="application/json")


handler = Mangum(app, lifespan="off")
