"""What an event may be: every bad field named at once, bounds as documented."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from orchestrator.bus import BusEvent, BusSettings, check_cursor, check_event, page_size
from orchestrator.errors import InvalidArgument


def _struct(value: object) -> struct_pb2.Struct:
    payload = struct_pb2.Struct()
    payload.update({"v": value})
    return payload


def test_every_bad_field_is_reported_together() -> None:
    with pytest.raises(InvalidArgument) as raised:
        check_event("Not A Topic", "k" * 257, "bad id", _struct("x" * 70000))
    assert [v.field for v in raised.value.violations] == ["topic", "key", "event_id", "payload"]


def test_a_payload_nested_too_deep_is_refused() -> None:
    deep: object = 1
    for _ in range(40):
        deep = {"d": deep}
    with pytest.raises(InvalidArgument) as raised:
        check_event("t", "", "", _struct(deep))
    assert raised.value.violations[0].description == "nested at most 32 levels"


def test_a_valid_event_gets_its_own_id_or_a_new_one() -> None:
    assert check_event("run.finished", "", "run-finished:r1", struct_pb2.Struct()) == (
        "run-finished:r1"
    )
    assert len(check_event("run.finished", "", "", struct_pb2.Struct())) == 32


@pytest.mark.parametrize("cursor", ["", "0", "1733107200000-0", "5-12"])
def test_cursors(cursor: str) -> None:
    assert check_cursor(cursor) == cursor


@pytest.mark.parametrize("cursor", ["x", "$", ">", "1-", "-1", "0-0-0"])
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(InvalidArgument):
        check_cursor(cursor)


def test_a_page_token_is_never_the_start() -> None:
    with pytest.raises(InvalidArgument):
        check_cursor("0", "page_token", start_allowed=False)


def test_page_sizes() -> None:
    assert (page_size(0), page_size(7), page_size(5000)) == (50, 7, 1000)
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_a_topics_keys_share_one_cluster_slot_and_name_their_topic() -> None:
    settings = BusSettings(prefix="aura:")
    stream = settings.stream("run.finished")
    assert stream == "aura:{run.finished}:events"
    assert settings.dedupe("run.finished", "e1").startswith("aura:{run.finished}:")
    assert settings.topic_of(stream) == "run.finished"


def test_an_entry_round_trips_through_its_fields() -> None:
    event = BusEvent("t", "k", "e", {"a": [1, {"b": None}]})
    back = BusEvent.from_entry("t", "5-1", event.fields())
    assert back == BusEvent("t", "k", "e", {"a": [1, {"b": None}]}, cursor="5-1")
    assert back.publish_time_ms == 5
