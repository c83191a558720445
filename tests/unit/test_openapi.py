import json
from pathlib import Path

from ethsource.openapi import combined_document

COMMITTED = Path(__file__).resolve().parents[2] / "local" / "gateway" / "openapi.json"


def test_committed_openapi_document_matches_the_functions():
    # The gateway serves the committed file; `make openapi` regenerates it after an API change.
    assert json.loads(COMMITTED.read_text()) == combined_document()


def test_every_route_documents_its_json_errors():
    document = combined_document()
    for path in ("/contracts", "/contracts/{address}", "/contracts/{address}/source"):
        for operation in document["paths"][path].values():
            assert {"404", "422"} <= operation["responses"].keys()
