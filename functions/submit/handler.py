"""submit: validate addresses, record the contracts, queue their scans; one at a time or up to 1000 at once."""

from mangum import Mangum

from ethsource.addresses import parse_address, parse_chain
from ethsource.batching import API_GATHER_S, MicroBatcher, run_on_loop
from ethsource.config import get_settings
from ethsource.http import Answer, ApiRequest, create_app
from ethsource.lambda_runtime import lambda_entry
from ethsource.models import MAX_BATCH_ITEMS, BatchSubmitRequest, BatchSubmitResponse, Contract, SubmitRequest
from ethsource.observability import REQUEST_ID, traceparent
from ethsource.services import services
from ethsource.submission import Submission, batch_results, parse_batch

app = create_app(
    "submit", settings=get_settings(), description="Submit contract addresses for their verified source to be fetched.",
    health_checks={"database": lambda: services().database.ping(), "broker": lambda: services().publisher.ping()},
    warm_up=lambda: services().chains.refresh(),
)
# Concurrent submissions share a transaction and a broker commit, run on the event loop (see ethsource.batching).
submissions = MicroBatcher(lambda batch: services().submitter.submit_many(batch), run_on_loop, gather_s=API_GATHER_S)


@app.route("POST", "/contracts", body=SubmitRequest,
           responses={202: (Contract, "a scan was queued"), 200: (Contract, "already known: no new scan")})
async def submit(request: ApiRequest) -> Answer:
    """Submit a contract"""
    asked = SubmitRequest.model_validate_json(request.body)
    chain_id, address = parse_chain(asked.chain_id, services().chains), parse_address(asked.address)
    contract, queued = await submissions(Submission(chain_id, address, asked.refresh, REQUEST_ID.get(), traceparent()))
    location = f"/contracts/{address}?chain_id={chain_id}".encode()
    return Answer(202 if queued else 200, contract, [(b"location", location)])


@app.route("POST", "/contracts/batch", body=BatchSubmitRequest, body_limit=MAX_BATCH_ITEMS * 256,
           responses={200: (BatchSubmitResponse, "one result per item, in order; a refused item has no status")})
async def submit_batch(request: ApiRequest) -> Answer:
    """Submit up to 1000 contracts"""
    entries = parse_batch(request.body, services().chains, REQUEST_ID.get(), traceparent())
    accepted = [entry for entry in entries if isinstance(entry, Submission)]
    results = services().submitter.submit_many(accepted) if accepted else []  # on the loop, as the batches are
    return Answer(200, batch_results(entries, results))


handler = lambda_entry("submit")(Mangum(app, lifespan="off"))
