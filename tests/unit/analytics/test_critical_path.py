"""The critical path of one run: the longest chain of measured step durations through
the DAG's dependencies."""

from __future__ import annotations

import pytest

from orchestrator.analytics.critical_path import critical_path

DIAMOND = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
ORDER = ("a", "b", "c", "d")


def test_the_longer_branch_of_a_diamond_is_the_critical_path() -> None:
    chain, length = critical_path(ORDER, DIAMOND, {"a": 1.0, "b": 2.0, "c": 5.0, "d": 1.0})
    assert chain == ("a", "c", "d")
    assert length == pytest.approx(7.0)


def test_a_tie_goes_to_the_step_earlier_in_the_order() -> None:
    chain, length = critical_path(ORDER, DIAMOND, {"a": 1.0, "b": 3.0, "c": 3.0, "d": 1.0})
    assert chain == ("a", "b", "d") and length == pytest.approx(5.0)


def test_steps_that_took_no_time_are_left_out_of_the_chain() -> None:
    # d was skipped and c served from the cache: the path ends with b.
    chain, length = critical_path(ORDER, DIAMOND, {"a": 1.0, "b": 2.0})
    assert chain == ("a", "b") and length == pytest.approx(3.0)


def test_independent_steps_give_the_longest_one_alone() -> None:
    chain, length = critical_path(("x", "y", "z"), {}, {"x": 0.2, "y": 0.9, "z": 0.4})
    assert chain == ("y",) and length == pytest.approx(0.9)


def test_a_chain_of_steps_is_its_own_critical_path() -> None:
    deps = {"b": ("a",), "c": ("b",)}
    chain, length = critical_path(("a", "b", "c"), deps, {"a": 0.1, "b": 0.2, "c": 0.3})
    assert chain == ("a", "b", "c") and length == pytest.approx(0.6)


def test_no_steps_no_path() -> None:
    assert critical_path((), {}, {}) == ((), 0.0)
