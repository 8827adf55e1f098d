"""Opaque ListWorkflowRuns page tokens for keyset pagination.

Runs are listed newest first, ties broken by name (descending). A token holds the key
of the last run of the page, so the next page starts strictly after it: runs inserted
meanwhile never shift or repeat the pages that follow. A token also carries the
fingerprint of the filter it was issued for; used with another filter it is rejected,
as AIP-158 asks.

Format: urlsafe base64 (unpadded) of a compact JSON object
`{"v": 1, "t": <create_time_us>, "n": <run name>, "f": <filter fingerprint>}`.
Clients must treat it as opaque. A token is checked fully before use: at most
MAX_PAGE_TOKEN_LENGTH characters, exactly those four keys, `t` an int in
[0, 2^63), `n` a run name of at most MAX_CURSOR_NAME_LENGTH characters.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import NoReturn

from orchestrator.errors import FieldViolation, InvalidArgument
from orchestrator.names import RUN_PREFIX
from orchestrator.runs.run_filter import RunFilter

_VERSION = 1
MAX_PAGE_TOKEN_LENGTH = 512
MAX_CURSOR_NAME_LENGTH = 128
_KEYS = frozenset({"v", "t", "n", "f"})
_MALFORMED = "page_token is malformed: pass next_page_token from a previous response as is"


@dataclass(frozen=True)
class PageCursor:
    """The (create_time, name) key of the last run already returned."""

    create_time_us: int
    name: str


def encode_page_token(cursor: PageCursor, run_filter: RunFilter) -> str:
    payload = {"v": _VERSION, "t": cursor.create_time_us, "n": cursor.name}
    payload["f"] = run_filter.fingerprint
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_page_token(token: str, run_filter: RunFilter) -> PageCursor | None:
    """The cursor in `token`, or None for "" (the first page).

    Raises `InvalidArgument` on the field "page_token" when the token is malformed or
    was issued for a different filter.
    """
    if not token:
        return None
    if len(token) > MAX_PAGE_TOKEN_LENGTH:
        _fail(f"page_token is too long: tokens this API issues are under {MAX_PAGE_TOKEN_LENGTH}")
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        _fail(_MALFORMED)
    if not _well_formed(payload):
        _fail(_MALFORMED)
    if payload["f"] != run_filter.fingerprint:
        _fail("page_token was issued for a different filter: use the same filter on every page")
    return PageCursor(create_time_us=payload["t"], name=payload["n"])


def _well_formed(payload: object) -> bool:
    if not isinstance(payload, dict) or payload.keys() != _KEYS:
        return False
    version, time_us, name, fingerprint = (payload[k] for k in ("v", "t", "n", "f"))
    return (
        type(version) is int
        and version == _VERSION
        and type(time_us) is int  # not bool, not float
        and 0 <= time_us < 2**63
        and isinstance(name, str)
        and name.startswith(RUN_PREFIX)
        and len(name) <= MAX_CURSOR_NAME_LENGTH
        and isinstance(fingerprint, str)
        and len(fingerprint) <= 64
    )


def _fail(description: str) -> NoReturn:
    raise InvalidArgument(
        f"invalid page_token: {description}",
        violations=[FieldViolation("page_token", description)],
    )
