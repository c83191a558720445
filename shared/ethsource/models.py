"""The shapes that cross the edges: the contract resource, the submit requests and answers, the scan message."""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from .addresses import parse_address
from .errors import AppError, InvalidInput

MAX_BATCH_ITEMS = 1000
# pydantic error types that deserve a clearer code than "invalid_request"
_VALIDATION_CODES = {"json_invalid": "invalid_json", "extra_forbidden": "unknown_field", "missing": "missing_field"}


def invalid_input(exc: ValidationError) -> InvalidInput:
    """A pydantic error as the API says it: `where: what`, with a code for the common kinds."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    message = first["msg"].removeprefix("Value error, ")
    return InvalidInput(f"{where}: {message}", _VALIDATION_CODES.get(first.get("type"), "invalid_request"))


class Status(StrEnum):
    CREATED = "CREATED"
    PROCESS = "PROCESS"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


TERMINAL = (Status.SUCCESS, Status.ERROR)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every JSON error answer: {"error": {"code", "message"}}."""

    error: ErrorDetail


class Contract(BaseModel):
    address: str = Field(description="EIP-55 checksummed address")
    chain_id: int
    status: Status
    error: ErrorDetail | None = None
    attempts: int = 0
    created_at: datetime = Field(description="UTC")
    updated_at: datetime = Field(description="UTC")
    contract_name: str | None = None
    compiler_version: str | None = None
    language: str | None = None
    proxy: bool | None = None
    implementation: str | None = None
    provider: str | None = Field(None, description="where the source came from: etherscan, sourcify or blockscout")
    match: str | None = Field(None, description="Sourcify's match of the source: exact_match or match")


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "1" is not a chain id, 0 is not a boolean

    address: str = Field(examples=["0xdAC17F958D2ee523a2206206994597C13D831ec7"])
    chain_id: int = 1
    refresh: bool = Field(False, description="scan again even when the source is already known")


class BatchSubmitRequest(BaseModel):
    """Documents the batch body; each item is validated on its own, so one bad item refuses only itself."""

    contracts: list[Any] = Field(min_length=1, max_length=MAX_BATCH_ITEMS, description=(
        "each item as the body of POST /contracts (SubmitRequest); an item that is not one is refused on its "
        "own, in its result"))


class BatchAccepted(Contract):
    queued: bool = Field(description="a scan was queued for this item")


class BatchRefused(BaseModel):
    address: Any = Field(description="as sent")
    chain_id: Any = Field(None, description="as sent")
    error: ErrorDetail


class BatchSubmitResponse(BaseModel):
    results: list[BatchAccepted | BatchRefused] = Field(description="one per item, in order; a refused item has "
                                                                    "no status")


def _canonical(pattern: str, what: str):
    """A query value written one way only: `chain_id=1`, not `1.0`, `+1`, `01`, ` 1` or `1_0`."""
    compiled = re.compile(pattern)

    def check(value: object) -> object:
        if isinstance(value, str) and not compiled.fullmatch(value):
            raise ValueError(f"must be {what}")
        return value
    return BeforeValidator(check)


QueryChainId = Annotated[int, _canonical(r"[1-9][0-9]{0,11}", "a chain id in plain decimal digits")]
QuerySeconds = Annotated[float, Field(ge=0, le=25), _canonical(r"(0|[1-9][0-9]*)(\.[0-9]+)?", "a number of seconds")]


class StatusQuery(BaseModel):
    chain_id: QueryChainId = 1
    wait: QuerySeconds = Field(0, description="with If-None-Match: answer as soon as the contract changes, or "
                                              "304 after this many seconds (at most 25)")


class DownloadQuery(BaseModel):
    chain_id: QueryChainId = 1
    format: Literal["zip", "json", "foundry"] = Field("zip", description="foundry: a zip `forge build` accepts")


class PoisonMessage(AppError):
    """A queue message that can never be processed (bad JSON, unknown fields, invalid address)."""

    code = "poison_message"


class ScanItem(BaseModel):
    """One contract to scan, with the id of the request that asked for it and, when tracing, its trace context; a
    retry names the provider it resumes at (None, as in messages of earlier versions: the first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_id: int = Field(gt=0)
    address: str
    request_id: str | None = None
    traceparent: str | None = None
    provider: str | None = None

    @property
    def key(self) -> tuple[int, str]:
        return self.chain_id, self.address


class ScanMessage(BaseModel):
    """A scan message: the contracts one submission batch (or retry, or sweep) queued, scanned as one unit.

    One message per batch rather than per contract: RabbitMQ and pika each cost ~50-70 µs per message and
    ~2-9 µs per contract inside one (measured here), the largest single cost of a submission.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    contracts: tuple[ScanItem, ...] = Field(min_length=1)

    def to_body(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_body(cls, body: bytes | str) -> ScanMessage:
        """The message, also from the one-contract shape `{"chain_id", "address"}` of earlier versions."""
        try:
            document = json.loads(body)
            if isinstance(document, dict) and "contracts" not in document:
                document = {"contracts": [document]}
            message = cls.model_validate(document)
            # No check of the chain here: it was accepted at submission, and a chain no provider serves (any
            # more) ends as an outcome of its own, unsupported_chain, rather than a dead letter.
            return cls(contracts=tuple(item.model_copy(update={"address": parse_address(item.address)})
                                       for item in message.contracts))
        except (ValueError, AppError) as exc:  # json and pydantic errors are ValueErrors
            raise PoisonMessage(f"unusable scan message: {str(exc)[:200]}") from None
