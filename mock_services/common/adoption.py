"""What the three adopt-an-outfit changes share: request checks and their refusal status."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from mock_services.catalogue import load_catalogue
from mock_services.common.ledger import refusal
from mock_services.common.validation import MAX_ID_LENGTH, Violations

MAX_ITEMS = 10


def check_adoption(user_id: str, outfit_id: str, item_skus: Sequence[str] | None) -> Violations:
    """user_id and outfit_id required; when `item_skus` is given, 1..10 catalogue SKUs."""
    violations = Violations()
    violations.user_id(user_id)
    if not outfit_id:
        violations.add("outfit_id", "is required")
    elif len(outfit_id) > MAX_ID_LENGTH:
        violations.add("outfit_id", f"must be at most {MAX_ID_LENGTH} characters")
    if item_skus is None:
        return violations
    if not 1 <= len(item_skus) <= MAX_ITEMS:
        violations.add("item_skus", f"must hold 1 to {MAX_ITEMS} SKUs, got {len(item_skus)}")
        return violations  # one violation, not one per item of a huge list
    catalogue = load_catalogue()
    for index, sku in enumerate(item_skus):
        if len(sku) > MAX_ID_LENGTH:  # never echoed whole: the status must fit its header
            violations.add(f"item_skus[{index}]", f"must be at most {MAX_ID_LENGTH} characters")
        elif catalogue.by_sku(sku) is None:
            violations.add(f"item_skus[{index}]", f"unknown SKU {sku!r}")
    return violations


def invalid(violations: Violations, subject: str) -> status_pb2.Status:
    """INVALID_ARGUMENT with ErrorInfo(INVALID_REQUEST) and one BadRequest violation each."""
    first = violations.items[0]
    status = refusal(
        code_pb2.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        f"invalid {subject}: {first.field} {first.description}",
    )
    bad_request = any_pb2.Any()
    bad_request.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in violations.items
            ]
        )
    )
    status.details.append(bad_request)
    return status


def styles_of(item_skus: Sequence[str]) -> list[str]:
    """The sorted style tags of the catalogue items."""
    catalogue = load_catalogue()
    return sorted(
        {tag for sku in item_skus if (item := catalogue.by_sku(sku)) for tag in item.style_tags}
    )
