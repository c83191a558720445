"""submit: validate an address, record the contract, queue its scan."""

from fastapi import Response
from mangum import Mangum
from opentelemetry import context as otel_context

from ethsource import contracts
from ethsource.addresses import parse_address, parse_chain
from ethsource.batching import MicroBatcher
from ethsource.contracts import Submission
from ethsource.db import get_database
from ethsource.http import ERROR_RESPONSES, create_app
from ethsource.models import Contract, SubmitRequest
from ethsource.queue import get_publisher

app = create_app(
    "submit",
    health_checks={"database": lambda: get_database().ping(), "broker": lambda: get_publisher().ping()},
    description="Submit a contract address for its verified source to be fetched from Etherscan.",
)


# Concurrent submissions share a transaction and a broker commit (see ethsource.batching).
submissions = MicroBatcher(contracts.submit_many)


@app.post("/contracts", status_code=202, response_model=Contract, tags=["contracts"],
          responses={200: {"model": Contract, "description": "already known: no new scan"}, **ERROR_RESPONSES})
async def submit(request: SubmitRequest) -> Response:
    chain_id, address = parse_chain(request.chain_id), parse_address(request.address)
    contract, queued = await submissions(Submission(chain_id, address, request.refresh, otel_context.get_current()))
    return Response(contract.model_dump_json(), status_code=202 if queued else 200, media_type="application/json",
                    headers={"Location": f"/contracts/{address}?chain_id={chain_id}"})


handler = Mangum(app, lifespan="off")
