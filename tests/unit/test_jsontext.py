"""The fast JSON: what orjson refuses still reads and writes as the standard library does."""

import json

import pytest

from ethsource import jsontext


@pytest.mark.parametrize("text", ['{"a": [1, 2.5, "é", null, true]}', '"\\ud800"', '[' * 200 + ']' * 200])
def test_any_valid_json_reads_as_the_standard_library_reads_it(text):
    assert jsontext.loads(text) == json.loads(text) == jsontext.loads(text.encode())


@pytest.mark.parametrize("text", ["<html>", '{"a": 1', ""])
def test_what_is_not_json_is_a_value_error(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


@pytest.mark.parametrize("value", [{"a": "é", 1: [None, 2**70]}, "\ud800", {"ok": [1, 2]}])
def test_what_it_writes_reads_back(value):
    written = jsontext.dumps(value)
    assert isinstance(written, bytes) and b" " not in written
    assert json.loads(written) == json.loads(json.dumps(value))
