"""Adopted outfits a profile has learned, in the style mock's ledger (SQLite).

Only committed adoptions are stored here; GetStyleProfile applies them, oldest first, on top
of the profile built from BuildStyleProfile evidence (the items' style tags count as image
evidence), so a held (prepared) adoption never shows.
"""

from __future__ import annotations

import json
from pathlib import Path

from google.protobuf.message import Message
from google.rpc import status_pb2

from aura.style.v1 import style_pb2 as st
from mock_services.common.adoption import check_adoption, invalid, styles_of
from mock_services.common.ledger import DIRECT, BranchKey, Db, Ledger, Operation

LEARN_ADOPTED_OUTFIT = "aura.style.v1.StyleProfileService/LearnAdoptedOutfit"
UNLEARN_ADOPTED_OUTFIT = "aura.style.v1.StyleProfileService/UnlearnAdoptedOutfit"
SCHEMA = """
CREATE TABLE IF NOT EXISTS adoptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    outfit_id TEXT NOT NULL,
    styles TEXT NOT NULL,
    UNIQUE (user_id, outfit_id)
);
"""


def _prepare(db: Db, key: BranchKey, request: Message) -> Message | status_pb2.Status:
    assert isinstance(request, st.LearnAdoptedOutfitRequest)
    violations = check_adoption(request.user_id, request.outfit_id, request.item_skus)
    if violations:
        return invalid(violations, "LearnAdoptedOutfitRequest")
    return st.LearnAdoptedOutfitResponse(
        user_id=request.user_id, learned_styles=styles_of(request.item_skus)
    )


def _commit(db: Db, key: BranchKey, request: Message) -> None:
    assert isinstance(request, st.LearnAdoptedOutfitRequest)
    db.execute(
        "INSERT OR IGNORE INTO adoptions (user_id, outfit_id, styles) VALUES (?, ?, ?)",
        (request.user_id, request.outfit_id, json.dumps(styles_of(request.item_skus))),
    )


def adoption_ledger(path: Path) -> Ledger:
    operations = {LEARN_ADOPTED_OUTFIT: Operation(st.LearnAdoptedOutfitRequest, _prepare, _commit)}
    return Ledger(path, operations, SCHEMA)


def adopted(ledger: Ledger, user_id: str) -> list[tuple[str, list[str]]]:
    """(outfit id, styles) of the user's committed adoptions, oldest first."""
    rows = ledger.db.execute(
        "SELECT outfit_id, styles FROM adoptions WHERE user_id = ? ORDER BY id", (user_id,)
    ).fetchall()
    return [(row[0], json.loads(row[1])) for row in rows]


def unlearn(ledger: Ledger, user_id: str, outfit_id: str, idempotency_key: str) -> bool:
    with ledger.transaction() as db:
        cursor = db.execute(
            "DELETE FROM adoptions WHERE user_id = ? AND outfit_id = ?", (user_id, outfit_id)
        )
        if cursor.rowcount:
            ledger.log(BranchKey(DIRECT, idempotency_key), UNLEARN_ADOPTED_OUTFIT, "unlearn")
    return cursor.rowcount > 0
