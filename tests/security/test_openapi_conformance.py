"""The HTTP API against its OpenAPI documents (schemathesis over real HTTP, the whole system running): generated
requests, valid and invalid, never get a 5xx, and every answer is one the document describes (status code,
content type, headers, body). Each function is tried on its own address against its own document, and the
gateway, the one base URL users call, against the merged document it serves."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.config import SchemathesisConfig

from ethsource.openapi import combined_document
from ethsource.serving import HTTP_FUNCTIONS, load

GATEWAY = "gateway"
CONFIG = SchemathesisConfig.from_dict({
    # A schema-valid address can rightly be refused with 422: validity includes the EIP-55 checksum, which
    # JSON Schema cannot express. Every other check runs, "no 5xx" and the conformance ones among them.
    "checks": {"positive_data_acceptance": {"enabled": False}},
    "phases": {"coverage": {
        # nginx itself refuses TRACE (405, its own HTML page, no Allow header) before any function sees it.
        "unexpected-methods": ["get", "put", "post", "delete", "options", "patch", "query"],
    }},
    "generation": {"max-examples": 20},  # per operation and phase: the whole run stays well under a minute
})
# Loaded at import, as schemathesis parametrizes at collection (its from_fixture loader fails on pytest 9.2);
# the first tests prove that the running system serves these same documents.
DOCUMENTS = {**{name: load(name).app.openapi() for name in HTTP_FUNCTIONS}, GATEWAY: combined_document()}


def url_of(system, name: str) -> str:
    return system.base_url if name == GATEWAY else system.layout.url(name)


@pytest.mark.parametrize("name", HTTP_FUNCTIONS)
def test_each_function_serves_the_document_tested_here(system, name):
    assert system.http.get(f"/functions/{name}/openapi.json").json() == DOCUMENTS[name]


def test_the_gateway_serves_the_merged_document_tested_here(system):
    assert system.http.get("/openapi.json").json() == DOCUMENTS[GATEWAY]


@schemathesis.pytest.parametrize(**{
    name: schemathesis.openapi.from_dict(document, config=CONFIG) for name, document in DOCUMENTS.items()})
@settings(deadline=None)
def test_answers_match_the_openapi_document(case, system):
    title = case.operation.schema.raw_schema["info"]["title"]  # "ethsource <function>", or "ethsource"
    case.call_and_validate(base_url=url_of(system, title.removeprefix("ethsource").strip() or GATEWAY))
