"""Request bodies (backend/payloads.py): orjson reads them first, and every body gets the answer
json's strict reading gives, the same object or the same PayloadError message."""

from __future__ import annotations

import json

import pytest
from backend import payloads
from backend.payloads import MAX_DEPTH, PayloadError, parse_body
from hypothesis import given, settings
from hypothesis import strategies as st


def outcome(read, raw: bytes):
    try:
        return "ok", read(raw)
    except PayloadError as exc:
        return "refused", str(exc)


def same_as_strict(raw: bytes):
    """parse_body's outcome, checked equal to json's reading of the same bytes."""
    fast, strict = outcome(parse_body, raw), outcome(payloads._parse_strictly, raw)
    assert fast == strict
    if fast[0] == "ok":  # equal and of the same types (1 and 1.0 compare equal)
        assert json.dumps(fast[1]) == json.dumps(strict[1])
    return fast


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


EDGES = [
    b'{"n": 9223372036854775807}', b'{"n": -9223372036854775808}',  # the 64-bit ends: taken
    b'{"n": 9223372036854775808}', b'{"n": 18446744073709551615}',  # beyond: orjson reads an int
    b'{"n": 18446744073709551616}', b'{"n": -9223372036854775809}',  # beyond: orjson reads a double
    b'{"n": [1, 123456789012345678901234567890]}', b'{"n": %s}' % (b"9" * 5000),
    b'{"x": 9.3e18}', b'{"x": -9.3e18}', b'{"x": 1e308}', b'{"x": 9223372036854775807.0}',  # doubles: taken
    b'{"x": 1e999}', b'{"x": -1E400}', b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}',
    b'{"x": -0}', b'{"x": -0.0}', b'{"x": 1E2}', b'{"x": 0.1}', b'{"x": 5e-324}',
    b'{"s": "\\ud800"}', b'{"s": "\\ud83d\\ude00"}', '{"s": "é😀"}'.encode(), b'{"s": "\xff"}',
    b'\xef\xbb\xbf{"a": 1}', '{"a": 1}'.encode("utf-16"), b"", b"   ", b"null", b"[]", b"3", b'"x"',
    b'{"a": 1, "a": 2}', b'{"a": 1} x', b'{"a": 1,}', b"{'a': 1}", b'{"a":\t1 }\n',
    b'{"s": "a\nb"}',  # a raw control character in a string
    nested(MAX_DEPTH), nested(MAX_DEPTH + 1), nested(1100), b"[" * 1100 + b"]" * 1100,
]


@pytest.mark.parametrize("raw", EDGES, ids=range(len(EDGES)))
def test_every_edge_gets_json_s_answer(raw):
    same_as_strict(raw)


def test_the_rules_still_hold():
    assert same_as_strict(b'{"n": 9223372036854775808}') == (
        "refused", "the body holds an integer beyond 64 bits: 9223372036854775808")
    assert same_as_strict(b'{"n": 123456789012345678901234567890}') == (
        "refused", "the body holds an integer beyond 64 bits: 12345678901234567890... (30 digits)")
    assert same_as_strict(b'{"x": 1e999}') == ("refused", "the body holds a number too large for a double")
    assert same_as_strict(nested(MAX_DEPTH + 1)) == ("refused", f"the body nests deeper than {MAX_DEPTH} levels")
    assert same_as_strict(b'\xef\xbb\xbf{"a": 1}') == ("ok", {"a": 1})
    assert same_as_strict(b'{"x": 1e19}') == ("ok", {"x": 1e19})


def test_orjson_reads_the_common_body_and_json_only_the_rest(monkeypatch):
    """The fast reading is the one used: json is not called for a plain body, and is for one
    that holds a double of an integer's size."""
    calls = []
    monkeypatch.setattr(payloads, "_parse_strictly", lambda raw: calls.append(raw) or {"strict": True})
    assert parse_body(b'{"tasks": [{"data": {"text": "x", "n": 1.5}}]}') == {"tasks": [{"data": {"text": "x", "n": 1.5}}]}
    assert calls == []
    assert parse_body(b'{"n": 1e19}') == {"strict": True}
    assert parse_body(b'\xef\xbb\xbf{}') == {"strict": True}
    assert len(calls) == 2


LEAVES = st.one_of(
    st.none(), st.booleans(), st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2.0**63, -(2.0**63), 1e19]),
)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                           max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), VALUES, max_size=5))
def test_any_json_object_gets_json_s_answer(body):
    raw = json.dumps(body).encode()
    kind, parsed = same_as_strict(raw)
    if kind == "ok":
        assert parsed == body
