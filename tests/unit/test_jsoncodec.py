"""The hot path's JSON (orjson, with the standard library behind it) reads and writes what `json` does."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bluetick import jsoncodec

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
documents = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20
)


@given(documents)
def test_loads_reads_what_json_reads(doc: Any):
    for text in (json.dumps(doc), json.dumps(doc, ensure_ascii=False)):
        data = text.encode("utf-8", "surrogatepass")
        assert jsoncodec.loads(data) == json.loads(data)
        assert jsoncodec.loads(text) == json.loads(text)


@given(documents)
def test_dumps_writes_what_json_reads_back(doc: Any):
    assert json.loads(jsoncodec.dumps(doc)) == doc


def test_where_orjson_would_differ_the_standard_library_reads():
    big = b'{"id": 123456789012345678901234567890}'  # orjson would give a float
    assert jsoncodec.loads(big) == {"id": 123456789012345678901234567890}
    assert math.isnan(jsoncodec.loads(b'{"a": NaN}')["a"])
    assert jsoncodec.loads(b'{"a": "\\ud800"}') == {"a": "\ud800"}  # a lone surrogate, as json reads it
    assert jsoncodec.loads('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    assert jsoncodec.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    assert jsoncodec.dumps({"a": "\ud800", "n": 2**70}) == json.dumps({"a": "\ud800", "n": 2**70})
