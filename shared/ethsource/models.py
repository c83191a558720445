"""The shapes that cross the edges: the contract resource, the submit request, the scan message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from .addresses import parse_address, parse_chain
from .errors import AppError


class Status(StrEnum):
    CREATED = "CREATED"
    PROCESS = "PROCESS"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


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
    created_at: datetime
    updated_at: datetime
    contract_name: str | None = None
    compiler_version: str | None = None
    language: str | None = None
    proxy: bool | None = None
    implementation: str | None = None

    @field_serializer("created_at", "updated_at")
    def _utc(self, value: datetime) -> str:
        # MySQL DATETIME has no zone; the service stores UTC.
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "1" is not a chain id, 0 is not a boolean

    address: str = Field(examples=["0xdAC17F958D2ee523a2206206994597C13D831ec7"])
    chain_id: int = 1
    refresh: bool = Field(False, description="scan again even when the source is already known")


class PoisonMessage(AppError):
    """A queue message that can never be processed (bad JSON, unknown fields, invalid address)."""

    code = "poison_message"


class ScanMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chain_id: int
    address: str

    def to_body(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_body(cls, body: bytes | str) -> ScanMessage:
        try:
            message = cls.model_validate(json.loads(body))
            return cls(chain_id=parse_chain(message.chain_id), address=parse_address(message.address))
        except (ValueError, AppError) as exc:  # json and pydantic errors are ValueErrors
            raise PoisonMessage(f"unusable scan message: {str(exc)[:200]}") from None
