"""The limits on what bluetick stores and reads, without a database (issue 22)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bluetick import jsoncodec
from bluetick.events import MAX_JSON_DEPTH, UnstorableJson, storable_tree
from bluetick.payloads import parse
from bluetick.payloads.common import MAX_ANSWER_ERROR_CHARS, MAX_ANSWER_ERRORS, ItemError, Parsed, storable_json


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


def test_a_json_value_at_the_depth_limit_is_stored_as_it_is():
    assert storable_tree(nested(MAX_JSON_DEPTH)) == nested(MAX_JSON_DEPTH)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 980, 5_000])
def test_metadata_deeper_than_the_limit_is_an_item_error_naming_it(depth: int):
    with pytest.raises(ItemError, match=f"metadata is nested deeper than {MAX_JSON_DEPTH} levels"):
        storable_json({"x": nested(depth - 1)})
    with pytest.raises(UnstorableJson):
        storable_tree(nested(depth))


@pytest.mark.parametrize("depth", [1_100, 50_000])
def test_json_nested_past_what_can_be_read_is_a_value_error(depth: int):
    with pytest.raises(ValueError, match="nested too deeply"):
        jsoncodec.loads(b"[" * depth + b"]" * depth)


def test_an_answer_names_the_first_skipped_items_and_counts_them_all():
    body = {"statuses": [1] * 300_000 + [{"id": "w" * 300, "status": "read", "timestamp": "x" * 5_000}]}
    parsed = parse(uuid.uuid4(), body)
    answer = parsed.skipped_answer()
    assert answer["skipped_count"] == len(parsed.errors) == 300_001
    assert answer["skipped"] == parsed.errors[:MAX_ANSWER_ERRORS]
    assert len(jsoncodec.dumps(answer)) < 2_000


def test_a_long_error_text_is_cut_in_the_answer():
    parsed = Parsed(format="wati", errors=["x" * 100_000])
    assert parsed.skipped_answer() == {"skipped": ["x" * MAX_ANSWER_ERROR_CHARS], "skipped_count": 1}
