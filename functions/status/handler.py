"""status: a contract's scan status and what is known about it."""

from mangum import Mangum

from ethsource import contracts
from ethsource.addresses import parse_address, parse_chain
from ethsource.db import get_database
from ethsource.http import ERROR_RESPONSES, create_app
from ethsource.models import Contract

app = create_app(
    "status",
    health_checks={"database": lambda: get_database().ping()},
    description="Poll the status of a submitted contract.",
)


@app.get("/contracts/{address}", response_model=Contract, tags=["contracts"], responses=ERROR_RESPONSES)
def status(address: str, chain_id: int = 1) -> Contract:
    return contracts.get(parse_chain(chain_id), parse_address(address))


handler = Mangum(app, lifespan="off")
