"""In-memory profiles per user, with history and idempotent updates."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aura.common.v1 import fashion_pb2 as fp
from aura.style.v1 import style_pb2
from mock_services.style.user_taste import UserTaste

MAX_SNAPSHOTS = 100
MAX_REMEMBERED_KEYS = 10_000
SHIFT_EPSILON = 1e-3


@dataclass(frozen=True)
class StyleHistory:
    snapshots: list[fp.StyleProfile]
    rising: list[style_pb2.StyleShift]
    falling: list[style_pb2.StyleShift]
    stability: float


def _style_weights(profile: fp.StyleProfile) -> dict[str, float]:
    return {score.style: score.score for score in profile.styles}


def _distance(older: fp.StyleProfile, newer: fp.StyleProfile) -> float:
    """Total variation distance between two style distributions, 0..1."""
    a, b = _style_weights(older), _style_weights(newer)
    return 0.5 * sum(abs(a.get(name, 0.0) - b.get(name, 0.0)) for name in set(a) | set(b))


class ProfileStore:
    """Profiles of all users of one server. Not thread-safe; one event loop owns it."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._tastes: dict[str, UserTaste] = {}
        self._answers: OrderedDict[str, style_pb2.BuildStyleProfileResponse] = OrderedDict()

    def build(
        self, request: style_pb2.BuildStyleProfileRequest, idempotency_key: str | None = None
    ) -> style_pb2.BuildStyleProfileResponse:
        """Applies the evidence once per idempotency key; a repeated key gets the first answer."""
        if idempotency_key and idempotency_key in self._answers:
            self._answers.move_to_end(idempotency_key)
            answer = style_pb2.BuildStyleProfileResponse()
            answer.CopyFrom(self._answers[idempotency_key])
            return answer
        user_id = request.user_id
        current = self._tastes.get(user_id) or UserTaste.cold_start_for(user_id)
        taste = current.updated(request)
        profile = taste.profile(user_id, self._clock_ns())
        taste.history = [*current.history, profile][-MAX_SNAPSHOTS:]
        self._tastes[user_id] = taste
        answer = style_pb2.BuildStyleProfileResponse(profile=profile)
        if idempotency_key:
            self._answers[idempotency_key] = answer
            while len(self._answers) > MAX_REMEMBERED_KEYS:
                self._answers.popitem(last=False)
        return answer

    def current(self, user_id: str) -> fp.StyleProfile:
        """The latest profile, or the user's cold-start profile when there is no evidence yet."""
        taste = self._tastes.get(user_id)
        if taste is None:
            return UserTaste.cold_start_for(user_id).profile(user_id)
        return taste.history[-1]

    def current_with(self, user_id: str, adopted_styles: list[list[str]]) -> fp.StyleProfile:
        """The latest profile with the adopted outfits' styles learned on top, oldest first
        (each as image evidence); the plain latest profile when there are none."""
        if not adopted_styles:
            return self.current(user_id)
        taste = self._tastes.get(user_id) or UserTaste.cold_start_for(user_id)
        for styles in adopted_styles:
            evidence = style_pb2.BuildStyleProfileRequest(user_id=user_id, image_style_tags=styles)
            taste = taste.updated(evidence)
        return taste.profile(user_id, self._clock_ns())

    def history(self, user_id: str, max_snapshots: int) -> StyleHistory:
        taste = self._tastes.get(user_id)
        snapshots = taste.history[-max_snapshots:] if taste else [self.current(user_id)]
        oldest, newest = _style_weights(snapshots[0]), _style_weights(snapshots[-1])
        deltas = {
            name: newest.get(name, 0.0) - oldest.get(name, 0.0)
            for name in set(oldest) | set(newest)
        }
        rising = sorted(
            (name for name, delta in deltas.items() if delta > SHIFT_EPSILON),
            key=lambda name: (-deltas[name], name),
        )
        falling = sorted(
            (name for name, delta in deltas.items() if delta < -SHIFT_EPSILON),
            key=lambda name: (deltas[name], name),
        )
        moves = [_distance(a, b) for a, b in itertools.pairwise(snapshots)]
        stability = 1.0 - (sum(moves) / len(moves) if moves else 0.0)
        return StyleHistory(
            snapshots=list(snapshots),
            rising=[style_pb2.StyleShift(style=name, delta=deltas[name]) for name in rising],
            falling=[style_pb2.StyleShift(style=name, delta=deltas[name]) for name in falling],
            stability=stability,
        )
