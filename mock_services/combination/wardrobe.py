"""Users' wardrobes: saved outfits, in the combination mock's ledger (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf.message import Message
from google.rpc import status_pb2

from aura.combination.v1 import combination_pb2 as cb
from mock_services.common.adoption import check_adoption, invalid
from mock_services.common.ledger import DIRECT, BranchKey, Db, Ledger, Operation

SAVE_OUTFIT = "aura.combination.v1.CombinationEngineService/SaveOutfit"
REMOVE_OUTFIT = "aura.combination.v1.CombinationEngineService/RemoveOutfit"
SCHEMA = """
CREATE TABLE IF NOT EXISTS wardrobe (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    outfit_id TEXT NOT NULL,
    item_skus TEXT NOT NULL,
    UNIQUE (user_id, outfit_id)
);
"""


def _prepare(db: Db, key: BranchKey, request: Message) -> Message | status_pb2.Status:
    assert isinstance(request, cb.SaveOutfitRequest)
    violations = check_adoption(request.user_id, request.outfit_id, request.item_skus)
    if violations:
        return invalid(violations, "SaveOutfitRequest")
    outfit = cb.WardrobeOutfit(
        user_id=request.user_id, outfit_id=request.outfit_id, item_skus=request.item_skus
    )
    return cb.SaveOutfitResponse(outfit=outfit)


def _commit(db: Db, key: BranchKey, request: Message) -> None:
    assert isinstance(request, cb.SaveOutfitRequest)
    db.execute(
        "INSERT OR IGNORE INTO wardrobe (user_id, outfit_id, item_skus) VALUES (?, ?, ?)",
        (request.user_id, request.outfit_id, json.dumps(list(request.item_skus))),
    )


def wardrobe_ledger(path: Path) -> Ledger:
    operations = {SAVE_OUTFIT: Operation(cb.SaveOutfitRequest, _prepare, _commit)}
    return Ledger(path, operations, SCHEMA)


def remove_outfit(ledger: Ledger, user_id: str, outfit_id: str, idempotency_key: str) -> bool:
    """Takes the outfit out (logged as effect "remove"); False when it was not there."""
    with ledger.transaction() as db:
        cursor = db.execute(
            "DELETE FROM wardrobe WHERE user_id = ? AND outfit_id = ?", (user_id, outfit_id)
        )
        if cursor.rowcount:
            ledger.log(BranchKey(DIRECT, idempotency_key), REMOVE_OUTFIT, "remove")
    return cursor.rowcount > 0


def list_wardrobe(ledger: Ledger, user_id: str) -> list[cb.WardrobeOutfit]:
    rows = ledger.db.execute(
        "SELECT outfit_id, item_skus FROM wardrobe WHERE user_id = ? ORDER BY id", (user_id,)
    ).fetchall()
    return [
        cb.WardrobeOutfit(user_id=user_id, outfit_id=row[0], item_skus=json.loads(row[1]))
        for row in rows
    ]
