"""The fuzz suite's Hypothesis profile, loaded before its tests are collected."""

from hypothesis import settings

from tests.fuzz.profiles import PROFILE

settings.load_profile(PROFILE)
