"""The NLU mock over gRPC: extraction end to end and INVALID_ARGUMENT for bad text."""

from __future__ import annotations

import grpc
import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from tests.integration.mock_helpers import error_info, field_violations

pytestmark = pytest.mark.integration
Stub = nlu_pb2_grpc.NluServiceStub


async def test_a_request_in_plain_words_is_understood(nlu_stub: Stub) -> None:
    text = "I need a minimalist navy blazer for the office under 200 euros"
    response = await nlu_stub.AnalyzeText(nlu_pb2.AnalyzeTextRequest(text=text, user_id="ada"))
    assert response.intent == nlu_pb2.INTENT_GET_RECOMMENDATIONS
    assert response.occasion == fp.OCCASION_OFFICE
    assert list(response.style_keywords) == ["minimalist"]
    assert list(response.colors) == ["navy"]
    assert (response.budget.max_price.currency_code, response.budget.max_price.units) == (
        "EUR",
        200,
    )
    assert [text[e.start : e.end] for e in response.entities] == [
        "minimalist",
        "navy",
        "blazer",
        "office",
        "200 euros",
    ]
    assert 0.5 < response.confidence <= 1


async def test_text_without_a_budget_leaves_it_unset(nlu_stub: Stub) -> None:
    response = await nlu_stub.AnalyzeText(nlu_pb2.AnalyzeTextRequest(text="trending boho looks"))
    assert response.intent == nlu_pb2.INTENT_EXPLORE_TRENDS
    assert not response.HasField("budget")


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (nlu_pb2.AnalyzeTextRequest(), "text"),
        (nlu_pb2.AnalyzeTextRequest(text="y" * 4097), "text"),
        (nlu_pb2.AnalyzeTextRequest(text="hi", locale="?!"), "locale"),
    ],
)
async def test_bad_text_gets_invalid_argument_with_bad_request_details(
    nlu_stub: Stub, request_message: nlu_pb2.AnalyzeTextRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nlu_stub.AnalyzeText(request_message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
    assert list(field_violations(caught.value)) == [field]
    info = error_info(caught.value)
    assert info is not None and info.reason == "INVALID_REQUEST"


async def test_every_problem_of_a_request_is_reported_at_once(nlu_stub: Stub) -> None:
    bad = nlu_pb2.AnalyzeTextRequest(text="", user_id="white space", locale="??")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await nlu_stub.AnalyzeText(bad)
    assert set(field_violations(caught.value)) == {"text", "user_id", "locale"}
    assert "(and 2 more)" in caught.value.details()
