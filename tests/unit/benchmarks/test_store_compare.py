"""The store scenario's checks on a results dict: the c=1 gap between PostgreSQL and
SQLite is the median over alternating rounds. Pure functions; the figures are made up."""

from __future__ import annotations

from typing import Any

from benchmarks.store_compare import c1_gap_ms, store_checks


def _store(rounds: list[tuple[float, float, float]] | None) -> dict[str, Any]:
    """(limit, sqlite, postgres) p50s per round; the sides' c1_0ms is the first round."""
    first = (rounds or [(5.0, 10.0, 11.0)])[0]
    store: dict[str, Any] = {
        name: {
            "c1_0ms": {"p50_ms": p50},
            "c100_20ms": {"runs_per_s": runs},
        }
        for name, p50, runs in zip(
            ("limit", "sqlite", "postgres"), first, (300, 200, 150), strict=True
        )
    }
    if rounds is not None:
        store["c1_rounds"] = [
            {"limit": limit, "sqlite": sqlite, "postgres": postgres}
            for limit, sqlite, postgres in rounds
        ]
    return store


def _gap_check(store: dict[str, Any]) -> tuple[str, float | None, str, bool | None]:
    return next(check for check in store_checks(store) if "minus SQLite" in check[0])


def test_the_gap_is_the_median_of_the_paired_rounds_not_of_each_side() -> None:
    # Rounds on a machine whose speed moves: each pair is close, the sides are not.
    store = _store([(5.0, 10.0, 11.0), (9.0, 20.0, 21.5), (5.0, 9.0, 13.0)])
    assert c1_gap_ms(store) == 1.5


def test_a_gap_over_two_ms_in_most_rounds_is_missed() -> None:
    store = _store([(5.0, 10.0, 12.5), (5.0, 10.0, 12.1), (5.0, 10.0, 10.5)])
    name, value, target, met = _gap_check(store)
    assert (value, target, met) == (12.1 - 10.0, "<= 2 ms", False)
    assert "median of 3 rounds" in name


def test_a_result_without_rounds_compares_the_one_window_each() -> None:
    assert c1_gap_ms(_store(None)) == 1.0
    assert _gap_check(_store(None))[3] is True


def test_throughput_is_still_postgresql_over_sqlite() -> None:
    checks = store_checks(_store([(5.0, 10.0, 11.0)]))
    assert ("c100_20ms PostgreSQL runs/s / SQLite runs/s", 0.75, ">= 0.5x", True) in checks
