"""How the mock style service's profiles respond to evidence, without a server."""

from __future__ import annotations

import pytest

from aura.common.v1 import fashion_pb2 as fp
from aura.style.v1 import style_pb2
from mock_services.style import ProfileStore


def evidence(user_id: str = "ada", **fields: object) -> style_pb2.BuildStyleProfileRequest:
    return style_pb2.BuildStyleProfileRequest(user_id=user_id, **fields)  # type: ignore[arg-type]


def style_scores(profile: fp.StyleProfile) -> dict[str, float]:
    return {score.style: score.score for score in profile.styles}


def test_a_new_user_gets_a_stable_cold_start_profile_derived_from_the_id() -> None:
    store = ProfileStore()
    ada, again, bob = store.current("ada"), ProfileStore().current("ada"), store.current("bob")
    assert ada == again
    assert ada.cold_start and ada.version == 0 and ada.user_id == "ada"
    assert sum(style_scores(ada).values()) == pytest.approx(1.0, abs=1e-5)
    assert (list(ada.styles), list(ada.palette)) != (list(bob.styles), list(bob.palette))


def test_evidence_moves_the_profile_towards_what_was_seen_and_said() -> None:
    store = ProfileStore(clock_ns=lambda: 1_700_000_000_000_000_000)
    profile = store.build(
        evidence(
            text_style_keywords=["boho"],
            image_style_tags=["romantic", "bohemian"],
            observed_colors=[
                fp.Color(name="pink", share=0.7),
                fp.Color(name="Lavender", share=0.3),
            ],
            observed_garments=[fp.Garment(category=fp.GARMENT_CATEGORY_DRESS, color="pink")],
            occasion=fp.OCCASION_DATE,
        )
    ).profile
    assert profile.version == 1 and not profile.cold_start
    assert [s.style for s in profile.styles[:2]] == ["bohemian", "romantic"]
    assert sum(style_scores(profile).values()) == pytest.approx(1.0, abs=1e-5)
    assert [c.name for c in profile.palette[:2]] == ["pink", "lavender"]
    assert profile.palette[0].hex == "#e8a2b8"
    assert profile.preferred_categories[0] == fp.GARMENT_CATEGORY_DRESS
    assert profile.occasion == fp.OCCASION_DATE
    assert profile.update_time.seconds == 1_700_000_000


def test_scores_stay_sorted_and_normalised_across_updates() -> None:
    store = ProfileStore()
    for keywords in (["minimalist"], ["edgy", "streetwear"], ["classic"], ["minimalist"]):
        profile = store.build(evidence(text_style_keywords=keywords)).profile
        scores = [s.score for s in profile.styles]
        assert scores == sorted(scores, reverse=True)
        assert sum(scores) == pytest.approx(1.0, abs=1e-5)
    assert profile.version == 4


def test_a_repeated_idempotency_key_returns_the_first_answer_and_applies_nothing() -> None:
    store = ProfileStore()
    first = store.build(evidence(text_style_keywords=["edgy"]), idempotency_key="run-1/style")
    repeat = store.build(evidence(text_style_keywords=["preppy"]), idempotency_key="run-1/style")
    assert repeat == first
    assert store.current("ada").version == 1
    assert store.build(evidence(), idempotency_key="run-2/style").profile.version == 2


def test_history_shows_snapshots_oldest_first_and_how_the_style_moved() -> None:
    store = ProfileStore()
    store.build(evidence(text_style_keywords=["minimalist"]))
    store.build(evidence(text_style_keywords=["edgy"]))
    store.build(evidence(text_style_keywords=["edgy"]))
    history = store.history("ada", max_snapshots=20)
    assert [s.version for s in history.snapshots] == [1, 2, 3]
    assert history.rising[0].style == "edgy" and history.rising[0].delta > 0
    assert history.falling[0].style == "minimalist" and history.falling[0].delta < 0
    assert 0 < history.stability < 1


def test_history_keeps_the_newest_snapshots() -> None:
    store = ProfileStore()
    for _ in range(5):
        store.build(evidence(text_style_keywords=["classic"]))
    assert [s.version for s in store.history("ada", max_snapshots=2).snapshots] == [4, 5]


def test_a_new_users_history_is_the_cold_start_profile_and_perfectly_stable() -> None:
    history = ProfileStore().history("newcomer", max_snapshots=20)
    assert [s.cold_start for s in history.snapshots] == [True]
    assert (history.rising, history.falling, history.stability) == ([], [], 1.0)
