"""Feedback on adopted outfits and the items' stock, in the recommendation mock's ledger.

Every SKU starts with `AURA_MOCK_STOCK_UNITS` units (default 1000). Preparing (or making)
a RecordFeedback holds `hold_quantity` units of each item; not enough stock is a NO vote
(reason OUT_OF_STOCK). Commit records the feedback and keeps the hold; Abort releases it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2

from aura.recommendation.v1 import recommendation_pb2 as rc
from mock_services.common.adoption import check_adoption, invalid
from mock_services.common.ledger import DIRECT, BranchKey, Db, Ledger, Operation, refusal

RECORD_FEEDBACK = "aura.recommendation.v1.RecommendationEngineService/RecordFeedback"
WITHDRAW_FEEDBACK = "aura.recommendation.v1.RecommendationEngineService/WithdrawFeedback"
MAX_HOLD = 1000
SCHEMA = """
CREATE TABLE IF NOT EXISTS holds (
    transaction_id TEXT NOT NULL,
    branch_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (transaction_id, branch_id, sku)
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    outfit_id TEXT NOT NULL,
    item_skus TEXT NOT NULL,
    hold_quantity INTEGER NOT NULL,
    transaction_id TEXT NOT NULL,
    branch_id TEXT NOT NULL
);
"""


def initial_units() -> int:
    return int(os.environ.get("AURA_MOCK_STOCK_UNITS", "1000"))


def available(db: Db, sku: str) -> int:
    query = "SELECT COALESCE(SUM(quantity), 0) FROM holds WHERE sku = ?"
    row = db.execute(query, (sku,)).fetchone()
    return initial_units() - int(row[0])


def _prepare(db: Db, key: BranchKey, request: Message) -> Message | status_pb2.Status:
    assert isinstance(request, rc.RecordFeedbackRequest)
    violations = check_adoption(request.user_id, request.outfit_id, request.item_skus)
    if not 0 <= request.hold_quantity <= MAX_HOLD:
        violations.add("hold_quantity", f"must be between 0 and {MAX_HOLD}")
    if violations:
        return invalid(violations, "RecordFeedbackRequest")
    quantity = request.hold_quantity or 1
    for sku in sorted(set(request.item_skus)):
        left = available(db, sku)
        if left < quantity:
            return refusal(
                code_pb2.FAILED_PRECONDITION,
                "OUT_OF_STOCK",
                f"{sku}: {left} units left, {quantity} asked",
                sku=sku,
            )
    for sku in sorted(set(request.item_skus)):
        db.execute(
            "INSERT INTO holds (transaction_id, branch_id, sku, quantity) VALUES (?, ?, ?, ?)",
            (key.transaction_id, key.branch_id, sku, quantity),
        )
    feedback = rc.Feedback(
        user_id=request.user_id,
        outfit_id=request.outfit_id,
        item_skus=request.item_skus,
        hold_quantity=quantity,
    )
    return rc.RecordFeedbackResponse(feedback=feedback)


def _commit(db: Db, key: BranchKey, request: Message) -> None:
    assert isinstance(request, rc.RecordFeedbackRequest)
    db.execute(
        "INSERT INTO feedback (user_id, outfit_id, item_skus, hold_quantity, transaction_id,"
        " branch_id) VALUES (?, ?, ?, ?, ?, ?)",
        (
            request.user_id,
            request.outfit_id,
            json.dumps(list(request.item_skus)),
            request.hold_quantity or 1,
            key.transaction_id,
            key.branch_id,
        ),
    )


def _abort(db: Db, key: BranchKey, request: Message) -> None:
    db.execute(
        "DELETE FROM holds WHERE transaction_id = ? AND branch_id = ?",
        (key.transaction_id, key.branch_id),
    )


def stock_ledger(path: Path) -> Ledger:
    operations = {RECORD_FEEDBACK: Operation(rc.RecordFeedbackRequest, _prepare, _commit, _abort)}
    return Ledger(path, operations, SCHEMA)


def withdraw_feedback(ledger: Ledger, user_id: str, outfit_id: str, idempotency_key: str) -> bool:
    """Withdraws the outfit's feedback and releases its stock (logged as "withdraw")."""
    with ledger.transaction() as db:
        rows = db.execute(
            "SELECT id, transaction_id, branch_id FROM feedback"
            " WHERE user_id = ? AND outfit_id = ?",
            (user_id, outfit_id),
        ).fetchall()
        for row_id, transaction_id, branch_id in rows:
            db.execute("DELETE FROM feedback WHERE id = ?", (row_id,))
            db.execute(
                "DELETE FROM holds WHERE transaction_id = ? AND branch_id = ?",
                (transaction_id, branch_id),
            )
        if rows:
            ledger.log(BranchKey(DIRECT, idempotency_key), WITHDRAW_FEEDBACK, "withdraw")
    return bool(rows)


def list_feedback(ledger: Ledger, user_id: str) -> list[rc.Feedback]:
    rows = ledger.db.execute(
        "SELECT outfit_id, item_skus, hold_quantity FROM feedback WHERE user_id = ? ORDER BY id",
        (user_id,),
    ).fetchall()
    return [
        rc.Feedback(
            user_id=user_id, outfit_id=row[0], item_skus=json.loads(row[1]), hold_quantity=row[2]
        )
        for row in rows
    ]
