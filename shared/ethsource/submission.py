"""The submit use case: record contracts and queue their scans, many submissions in one transaction and one
broker commit.

The scan messages are published inside the database transaction that creates (or re-opens) the rows: if the
broker does not take them, the transaction rolls back and every caller gets Unavailable with nothing written.
A scanner that reads a row before the commit waits on its lock, so it never misses it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Container
from dataclasses import dataclass

from pydantic import ValidationError

from .addresses import parse_address, parse_chain
from .errors import InvalidInput
from .models import MAX_BATCH_ITEMS, BatchRefused, Contract, ErrorDetail, ScanItem, SubmitRequest, invalid_input
from .observability import batch_span
from .queue import Outgoing, Publisher
from .store import ContractStore, Key


@dataclass(frozen=True)
class Submission:
    chain_id: int
    address: str
    refresh: bool = False
    request_id: str | None = None  # carried to the scanner's log lines
    traceparent: str | None = None  # the submitting request's trace, which the scan continues

    @property
    def key(self) -> Key:
        return self.chain_id, self.address


class Submitter:
    def __init__(self, store: ContractStore, publisher: Publisher):
        self._store, self._publisher = store, publisher

    def submit_many(self, submissions: list[Submission]) -> list[tuple[Contract, bool]]:
        """Each submission's contract and whether this call queued its scan (a contract submitted twice in one
        batch is queued once: its first submission that asks for a refresh says so, else its first)."""
        first: dict[Key, Submission] = {}
        for submission in submissions:
            first.setdefault(submission.key, submission)
        refresh = {submission.key for submission in submissions if submission.refresh}

        def publish(queued: list[Key]) -> None:
            items = [ScanItem(chain_id=key[0], address=key[1], request_id=first[key].request_id,
                              traceparent=first[key].traceparent) for key in queued]
            self._publisher.publish([Outgoing(items)])

        with batch_span("submit batch", [submission.traceparent for submission in first.values()]):
            found = self._store.open_scans(list(first), refresh, os.urandom(16), publish)
        teller: dict[Key, int] = {}  # the submission that says a key was queued
        for index, submission in enumerate(submissions):
            told = teller.get(submission.key)
            if told is None or (submission.refresh and not submissions[told].refresh):
                teller[submission.key] = index
        return [(found[submission.key][0], found[submission.key][1] and teller[submission.key] == index)
                for index, submission in enumerate(submissions)]


def parse_batch(body: bytes, chains: Container[int], request_id: str | None,
                traceparent: str | None) -> list[Submission | BatchRefused]:
    """Each item of a batch as a Submission, or refused with its own error, by the rules of one submission (a chain
    in `chains`); the whole body is refused (InvalidInput) only when it is not `{"contracts": [1 to 1000 items]}`."""
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidInput("body: not valid JSON", "invalid_json") from None
    items = document.get("contracts") if isinstance(document, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_ITEMS or set(document) != {"contracts"}:
        raise InvalidInput(f'body: must be {{"contracts": [...]}} with 1 to {MAX_BATCH_ITEMS} items',
                           "invalid_request")
    entries: list[Submission | BatchRefused] = []
    for item in items:
        try:
            asked = SubmitRequest.model_validate(item)
            entries.append(Submission(parse_chain(asked.chain_id, chains), parse_address(asked.address), asked.refresh,
                                      request_id, traceparent))
        except (ValidationError, InvalidInput) as exc:
            error = invalid_input(exc) if isinstance(exc, ValidationError) else exc
            given = item if isinstance(item, dict) else {}
            entries.append(BatchRefused(address=given.get("address", item), chain_id=given.get("chain_id"),
                                        error=ErrorDetail(code=error.code, message=error.message)))
    return entries


def batch_results(entries: list[Submission | BatchRefused], results: list[tuple[Contract, bool]]) -> dict:
    """The batch answer: per item, the resource with `queued`, or the refused item with its error."""
    accepted = iter(results)
    answers = []
    for entry in entries:
        if isinstance(entry, Submission):
            contract, queued = next(accepted)
            answers.append({**contract.model_dump(mode="json"), "queued": queued})
        else:
            answers.append(entry.model_dump(mode="json"))
    return {"results": answers}
