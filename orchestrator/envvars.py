"""Typed `AURA_*` environment variables: one `EnvVar` entry per variable.

An entry names the variable, the attribute it sets (a path into a frozen dataclass, dict
keys included), its kind and what it means. From such a list come the parsing (every bad
value reported at once, naming the variable and what it expects), the warning for a
misspelt `AURA_*` name, the README's settings table and `aura config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_OFF = ("", "off", "none", "false", "no")
_ON = ("1", "true", "on", "yes")


class SettingsError(ValueError):
    """Bad `AURA_*` values; one line per variable: `AURA_PORT='eighty': expected ...`."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Kind:
    """How a variable's text becomes a value, and back (for the README and `aura config`)."""

    expect: str  # what a valid value looks like, for error messages
    parse: Callable[[str], object]
    show: Callable[[object], str] = str


@dataclass(frozen=True)
class EnvVar:
    name: str  # e.g. "AURA_PORT"
    path: tuple[str, ...]  # attribute path, e.g. ("telemetry", "log_format")
    kind: Kind
    help: str

    def nested(self, *prefix: str) -> EnvVar:
        return dataclasses.replace(self, path=(*prefix, *self.path))


def number(minimum: float = 0.0, *, above: bool = False, maximum: float | None = None) -> Kind:
    """A float >= minimum (> minimum when `above`), <= maximum when given."""
    bound = f"> {minimum:g}" if above else f">= {minimum:g}"
    expect = f"a number {bound}" + (f" and <= {maximum:g}" if maximum is not None else "")

    def parse(text: str) -> float:
        value = float(text)
        if value < minimum or (above and value == minimum):
            raise ValueError
        if maximum is not None and value > maximum:
            raise ValueError
        return value

    return Kind(expect, parse, lambda v: f"{v:g}" if isinstance(v, float) else str(v))


def integer(minimum: int = 0, maximum: int | None = None, expect: str = "") -> Kind:
    expect = expect or f"a whole number >= {minimum}" + (f" and <= {maximum}" if maximum else "")

    def parse(text: str) -> int:
        value = int(text.strip())
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError
        return value

    return Kind(expect, parse)


PORT = integer(0, 65535, "a port number 0-65535")


def port_or_off() -> Kind:
    def parse(text: str) -> int | None:
        return None if text.strip().lower() in _OFF else PORT.parse(text)  # type: ignore[return-value]

    return Kind("a port number 0-65535, or off", parse, lambda v: "off" if v is None else str(v))


def choice(*options: str, upper: bool = False) -> Kind:
    expect = " or ".join(repr(o) for o in options)

    def parse(text: str) -> str:
        value = text.strip().upper() if upper else text.strip().lower()
        if value not in options:
            raise ValueError
        return value

    return Kind(expect, parse)


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in _ON:
        return True
    if value in (*_OFF, "0"):
        return False
    raise ValueError


FLAG = Kind("1 or 0 (true/false, on/off, yes/no)", _flag, lambda v: "1" if v else "0")
TEXT = Kind("text", lambda text: text.strip())
PATH = Kind("a directory path", lambda text: Path(text.strip()))


def _store_url(text: str) -> str:
    url = text.strip()
    if url and urllib.parse.urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ValueError
    return url


def redact_url(url: object) -> str:
    """The URL with its password replaced by `***`: safe to print and log."""
    text = str(url)
    parts = urllib.parse.urlsplit(text)
    if parts.password is None:
        return text
    host = parts.netloc.rpartition("@")[2]
    user = urllib.parse.quote(parts.username or "", safe="")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


STORE_URL = Kind(
    "empty (SQLite under AURA_DATA_DIR) or a postgresql:// URL", _store_url, redact_url
)


def _redis_url(text: str) -> str:
    url = text.strip()
    if url and urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError
    return url


REDIS_URL = Kind(
    "empty (no event bus) or a redis://, rediss:// or unix:// URL", _redis_url, redact_url
)


def _addresses(text: str) -> list[str]:
    addresses = [a.strip() for a in text.split(",") if a.strip()]
    if not addresses or any(a.rpartition(":")[0] == "" for a in addresses):
        raise ValueError
    return addresses


ADDRESSES = Kind(
    "host:port, several comma-separated for replicas",
    _addresses,
    lambda v: ",".join(v) if isinstance(v, list) else str(v),
)


def read(base: T, variables: Iterable[EnvVar], env: Mapping[str, str]) -> T:
    """`base` with every variable set in `env` applied; SettingsError lists all bad ones."""
    problems: list[str] = []
    updates: dict[tuple[str, ...], tuple[str, object]] = {}
    for var in variables:
        raw = env.get(var.name)
        if raw is None:
            continue
        try:
            updates[var.path] = (var.name, var.kind.parse(raw))
        except ValueError:
            problems.append(f"{var.name}={raw!r}: expected {var.kind.expect}")
    if problems:
        raise SettingsError(problems)
    return _apply(base, updates, ())


def _apply(obj: T, updates: dict[tuple[str, ...], tuple[str, object]], at: tuple[str, ...]) -> T:
    mine = {path[len(at)] for path in updates if path[: len(at)] == at and len(path) > len(at)}
    if not mine:
        return obj
    changes: dict[str, object] = {}
    for key in mine:
        here = (*at, key)
        if here in updates:
            changes[key] = updates[here][1]
        else:
            current = obj[key] if isinstance(obj, dict) else getattr(obj, key)
            changes[key] = _apply(current, updates, here)
    if isinstance(obj, dict):
        return {**obj, **changes}  # type: ignore[return-value]
    try:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    except ValueError as error:  # a dataclass's own check across fields, e.g. min <= max
        names = sorted(name for path, (name, _) in updates.items() if path[: len(at)] == at)
        raise SettingsError([f"{', '.join(names)}: {error}"]) from None


def value_at(obj: object, path: Sequence[str]) -> Any:
    for key in path:
        obj = obj[key] if isinstance(obj, dict) else getattr(obj, key)
    return obj


def jsonable(value: object) -> object:
    """A value as JSON has it: paths as text, lists as lists, None as null."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple | frozenset | set):
        return [jsonable(v) for v in value]
    return value


def unknown_names(
    env: Mapping[str, str], known: Iterable[str], prefix: str, others: Iterable[str] = ()
) -> list[str]:
    """A warning per variable with `prefix` that no entry names, with the nearest known name.

    `others` are prefixes of variables read elsewhere (e.g. `AURA_MOCK_` for the mock services).
    """
    names = sorted(set(known))
    skip = tuple(others)
    warnings = []
    for name in sorted(env):
        if not name.startswith(prefix) or name in names or (skip and name.startswith(skip)):
            continue
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]}?" if near else "; `aura config` lists the settings"
        warnings.append(f"{name} is not a setting and is ignored{hint}")
    return warnings


def markdown_table(base: object, variables: Iterable[EnvVar]) -> str:
    """The README's table: variable, default, meaning."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for var in variables:
        default = var.kind.show(value_at(base, var.path))
        shown = f"`{default}`" if default else "(empty)"
        lines.append(f"| `{var.name}` | {shown} | {var.help} |")
    return "\n".join(lines) + "\n"
