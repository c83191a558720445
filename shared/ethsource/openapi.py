"""One OpenAPI document for the whole API, merged from the HTTP functions' own documents."""

from __future__ import annotations

from .serving import HTTP_FUNCTIONS, load


def combined_document() -> dict:
    documents = [load(name).app.openapi() for name in HTTP_FUNCTIONS]
    combined = {
        "openapi": documents[0]["openapi"],
        "info": {"title": "ethsource", "version": documents[0]["info"]["version"],
                 "description": "Fetch the verified source code of smart contracts from Etherscan."},
        "paths": {},
        "components": {"schemas": {}},
    }
    for document in documents:
        for path, operations in document["paths"].items():
            combined["paths"].setdefault(path, {}).update(operations)
        combined["components"]["schemas"].update(document.get("components", {}).get("schemas", {}))
    return combined
