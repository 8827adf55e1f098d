"""Fuzzing the five mock services: any request message, any `aura-fault` header, raw bytes.

A mock answers OK or a clear code with ErrorInfo, never UNKNOWN; INTERNAL only when the call's
own header injected it; nothing logs a traceback; every mock still serves afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from aura.nlu.v1 import nlu_pb2, nlu_pb2_grpc
from mock_services.common.faults import FAULT_HEADER, FaultSyntaxError, parse_fault_header
from mock_services.registry import SERVICES
from tests.fuzz import strategies as fz
from tests.fuzz.profiles import budget
from tests.fuzz.serving import RealServers

pytestmark = [pytest.mark.fuzz, pytest.mark.integration, pytest.mark.timeout(300)]

MOCK_DOMAIN = "mock.aura"
CALL_TIMEOUT_S = 20
CLEAR_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
FAULT_HEADERS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "code=internal",
            "code=unavailable; pushback_ms=5",
            "code=INTERNAL, error_rate=0.5",
            "latency_ms=1",
            "error_rate=1",
            "code=ok",
            "code=unknown",
            "hang=maybe",
            "latency_ms=-1",
            "",
            ";;",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40),
)


METHODS: list[tuple[str, MethodDescriptor]] = [
    (name, method)
    for name, spec in SERVICES.items()
    for method in descriptor_pool.Default().FindServiceByName(spec.service_name).methods
]


@pytest.fixture(scope="module")
def serving() -> Iterator[RealServers]:
    serving = RealServers().start()
    try:
        yield serving
    finally:
        serving.stop()


@pytest.fixture(scope="module")
def channels(serving: RealServers) -> Iterator[dict[str, grpc.Channel]]:
    channels = {name: grpc.insecure_channel(serving.mesh[name].address) for name in SERVICES}
    yield channels
    for channel in channels.values():
        channel.close()


def injected_codes(header: str | None) -> set[grpc.StatusCode]:
    """What the header may inject; skips headers that would hang or sleep for long."""
    if header is None:
        return set()
    try:
        faults = parse_fault_header(header)
    except FaultSyntaxError:
        return set()
    assume(not faults.hang and (faults.latency_ms or 0) + (faults.jitter_ms or 0) <= 50)
    rate = faults.error_rate if faults.error_rate is not None else 1.0
    if faults.error_code is not None and rate > 0:
        return {faults.error_code}
    return {grpc.StatusCode.UNAVAILABLE} if faults.error_rate else set()


def call(
    channel: grpc.Channel, method: MethodDescriptor, payload: bytes, header: str | None
) -> grpc.RpcError | None:
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = () if header is None else ((FAULT_HEADER, header),)
    try:
        channel.unary_unary(path, request_serializer=None, response_deserializer=None)(
            payload, timeout=CALL_TIMEOUT_S, metadata=metadata
        )
    except grpc.RpcError as error:
        return error
    return None


def assert_clear(error: grpc.RpcError | None, injected: set[grpc.StatusCode], what: object) -> None:
    event("OK" if error is None else error.code().name)
    if error is None:
        return
    code = error.code()
    assert code in CLEAR_CODES | injected, f"{code.name} ({error.details()!r}) for {what!r:.600}"
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:  # a status that contradicts the call's code
        status = None
    assert status is not None, f"{code.name} ({error.details()!r}) without google.rpc.Status"
    infos = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert infos, f"{code.name} without ErrorInfo"
    info = error_details_pb2.ErrorInfo()
    infos[0].Unpack(info)
    assert info.domain == MOCK_DOMAIN and info.reason


@settings(max_examples=budget(400))
@given(data=st.data(), header=FAULT_HEADERS)
def test_any_request_and_fault_header_get_a_clear_answer(
    serving: RealServers, channels: dict[str, grpc.Channel], data: st.DataObject, header: str
) -> None:
    name, method = data.draw(st.sampled_from(METHODS), label="method")
    request: Message = data.draw(fz.messages(method.input_type), label="request")
    injected = injected_codes(header)
    mark = serving.mark()
    error = call(channels[name], method, request.SerializeToString(), header)
    assert_clear(error, injected, (method.full_name, header, request))
    errors = serving.errors(mark)
    assert not errors, errors[:5]


@settings(max_examples=budget(200))
@given(data=st.data())
def test_raw_bytes_get_a_clear_answer(
    serving: RealServers, channels: dict[str, grpc.Channel], data: st.DataObject
) -> None:
    name, method = data.draw(st.sampled_from(METHODS), label="method")
    valid = data.draw(fz.messages(method.input_type)).SerializeToString()
    payload = data.draw(st.one_of(st.binary(max_size=128), fz.mutated(valid)), label="bytes")
    mark = serving.mark()
    assert_clear(call(channels[name], method, payload, None), set(), (method.full_name, payload))
    errors = serving.errors(mark)
    assert not errors, errors[:5]


def test_after_the_fuzzing_every_mock_serves(
    serving: RealServers, channels: dict[str, grpc.Channel]
) -> None:
    for name, channel in channels.items():
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICES[name].service_name), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING, name
    analysis = nlu_pb2_grpc.NluServiceStub(channels["nlu"]).AnalyzeText(
        nlu_pb2.AnalyzeTextRequest(text="navy blazer for the office", user_id="ada"), timeout=10
    )
    assert analysis.colors
    assert not serving.errors(), serving.errors()[:5]
