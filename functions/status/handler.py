"""status: a contract's scan status and what is known about it; with `wait`, as soon as it changes."""

from mangum import Mangum

from ethsource import lookup
from ethsource.addresses import parse_address, parse_chain
from ethsource.batching import API_GATHER_S, MicroBatcher, run_on_loop
from ethsource.config import get_settings
from ethsource.http import Answer, ApiRequest, create_app
from ethsource.lambda_runtime import lambda_entry
from ethsource.models import Contract, StatusQuery
from ethsource.services import services
from ethsource.watching import MAX_WAIT_S, Watcher, cache_control, etag

app = create_app("status", settings=get_settings(), description="The status of submitted contracts.",
                 health_checks={"database": lambda: services().database.ping(reading=True)},
                 warm_up=lambda: services().chains.refresh())
# Concurrent polls share one query, run on the event loop (see ethsource.batching); waiters share one lookup per
# interval.
lookups = MicroBatcher(lambda keys: lookup.get_many(services().store, keys), run_on_loop, gather_s=API_GATHER_S)
watcher = Watcher(lambda keys: run_on_loop(services().store.get_many, keys))


@app.route("GET", "/contracts/{address}", query=StatusQuery, responses={
    200: (Contract, "the contract, with its ETag"),
    304: (None, f"unchanged since the If-None-Match ETag (after `wait`, at most {MAX_WAIT_S:g} s)")})
async def status(request: ApiRequest) -> Answer:
    """A contract's status"""
    key = parse_chain(request.query.chain_id, services().chains), parse_address(request.path_params["address"])
    contract = await lookups(key)
    seen = (request.header(b"if-none-match") or b"").decode("latin-1")
    if seen and seen == etag(contract):
        if request.query.wait and not watcher.full:
            with app.parked():  # a waiter costs no work while it waits: it does not count as in progress
                contract = await watcher.changed(key, seen, request.query.wait) or contract
        if etag(contract) == seen:
            return Answer(304, None, _validators(contract))
    return Answer(200, contract, _validators(contract))


def _validators(contract: Contract) -> list[tuple[bytes, bytes]]:
    return [(b"etag", etag(contract).encode()), (b"cache-control", cache_control(contract).encode())]


handler = lambda_entry("status")(Mangum(app, lifespan="off"))
