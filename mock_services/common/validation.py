"""Request validation that ends in INVALID_ARGUMENT with `google.rpc.BadRequest` details.

Validators are pure: they collect every violation of a request into a `Violations` list, so a
client learns about all its mistakes at once. Only `reject_invalid` touches gRPC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from aura.common.v1 import fashion_pb2
from mock_services.common.money import money_problems

ERROR_DOMAIN = "mock.aura"

MAX_ID_LENGTH = 128
_USER_ID = re.compile(r"^[\w.@:+-]+$")


class _EnumType(Protocol):
    def keys(self) -> Sequence[str]: ...
    def values(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class FieldViolation:
    """One bad field; `field` is a path such as `wardrobe[2].price.nanos`."""

    field: str
    description: str


@dataclass
class Violations:
    """Collects field violations while a request is checked."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.items.append(FieldViolation(path, description))

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def fields(self) -> list[str]:
        return [violation.field for violation in self.items]

    def user_id(self, value: str, path: str = "user_id", *, required: bool = True) -> None:
        if not value:
            if required:
                self.add(path, "is required")
            return
        if len(value) > MAX_ID_LENGTH:
            self.add(path, f"must be at most {MAX_ID_LENGTH} characters")
        elif not _USER_ID.match(value):
            self.add(path, "may contain only letters, digits and . _ @ : + -")

    def int_range(self, value: int, path: str, low: int, high: int) -> None:
        if not low <= value <= high:
            self.add(path, f"must be between {low} and {high}, got {value}")

    def unit_interval(self, value: float, path: str) -> None:
        if not 0.0 <= value <= 1.0:
            self.add(path, f"must be between 0 and 1, got {value:g}")

    def enum(self, value: int, enum_type: _EnumType, path: str, *, allow_unspecified: bool) -> None:
        if value not in enum_type.values():
            self.add(path, f"unknown enum value {value}")
        elif value == 0 and not allow_unspecified:
            self.add(path, f"must be set to one of {', '.join(enum_type.keys()[1:])}")

    def money(self, value: fashion_pb2.Money, path: str) -> None:
        for subfield, description in money_problems(value):
            self.add(f"{path}.{subfield}", description)

    def item(self, item: fashion_pb2.Item, path: str) -> None:
        """Checks a catalogue or wardrobe item given by a client."""
        self.enum(
            item.category, fashion_pb2.GarmentCategory, f"{path}.category", allow_unspecified=False
        )
        self.enum(item.pattern, fashion_pb2.Pattern, f"{path}.pattern", allow_unspecified=True)
        for index, occasion in enumerate(item.occasions):
            self.enum(
                occasion, fashion_pb2.Occasion, f"{path}.occasions[{index}]", allow_unspecified=True
            )
        if item.HasField("price"):
            self.money(item.price, f"{path}.price")

    def profile(self, profile: fashion_pb2.StyleProfile, path: str) -> None:
        """Checks a style profile given by a client (usually another service's output)."""
        self.user_id(profile.user_id, f"{path}.user_id", required=False)
        for index, score in enumerate(profile.styles):
            if not score.style:
                self.add(f"{path}.styles[{index}].style", "is required")
            self.unit_interval(score.score, f"{path}.styles[{index}].score")
        for index, color in enumerate(profile.palette):
            self.color(color, f"{path}.palette[{index}]")
        for index, category in enumerate(profile.preferred_categories):
            enum_path = f"{path}.preferred_categories[{index}]"
            self.enum(category, fashion_pb2.GarmentCategory, enum_path, allow_unspecified=False)
        self.enum(
            profile.occasion, fashion_pb2.Occasion, f"{path}.occasion", allow_unspecified=True
        )

    def color(self, color: fashion_pb2.Color, path: str) -> None:
        if not color.name.strip():
            self.add(f"{path}.name", "is required")
        if color.hex and not re.fullmatch(r"#[0-9a-fA-F]{6}", color.hex):
            self.add(f"{path}.hex", "must look like #1f2a44")
        self.unit_interval(color.share, f"{path}.share")

    def trends(self, trends: Iterable[fashion_pb2.Trend], path: str = "trends") -> None:
        for index, trend in enumerate(trends):
            if not trend.style:
                self.add(f"{path}[{index}].style", "is required")
            if not -1.0 <= trend.momentum <= 1.0:
                self.add(f"{path}[{index}].momentum", "must be between -1 and 1")


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def invalid_argument_status(violations: Violations, subject: str) -> grpc.Status:
    """The status a bad request ends with: INVALID_ARGUMENT, the first problem in the message."""
    first = violations.items[0]
    extra = len(violations) - 1
    summary = f"invalid {subject}: {first.field} {first.description}"
    if extra:
        summary += f" (and {extra} more)"
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations.items
        ]
    )
    info = error_details_pb2.ErrorInfo(reason="INVALID_REQUEST", domain=ERROR_DOMAIN)
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=summary,
        details=[_pack(bad_request), _pack(info)],
    )
    return rpc_status.to_status(status)


async def reject_invalid(
    context: grpc.aio.ServicerContext, violations: Violations, subject: str
) -> None:
    """Aborts the call with INVALID_ARGUMENT when there is any violation; returns otherwise."""
    if violations:
        await abort_with(context, invalid_argument_status(violations, subject))


async def abort_with(context: grpc.aio.ServicerContext, status: grpc.Status) -> NoReturn:
    await context.abort_with_status(status)
    # abort_with_status always raises; this line only tells type checkers so.
    raise AssertionError("abort_with_status returned")
