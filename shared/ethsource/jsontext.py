"""JSON on the hot paths (providers' answers, the stored blob, the API's answers) through orjson, several times
as fast as the standard library, which takes what orjson refuses (lone surrogates; integers beyond 64 bits to
write). orjson reads such integers as floats: none is in a source's text or an API answer, so the small inputs
where one could matter (a submission's chain_id, a scan message) keep to the standard library."""

import json

import orjson


def loads(data: bytes | str):
    """Parsed JSON; ValueError (or RecursionError, nested too deep) for anything else."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def dumps(value) -> bytes:
    """Compact JSON as UTF-8 bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")
