"""Spending limits in free text: "under 200 euros", "€150", "$80", "budget of 90"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from aura.common.v1 import fashion_pb2
from mock_services.common.money import from_decimal

_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}
_WORDS = {
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "chf": "CHF",
    "franc": "CHF",
    "francs": "CHF",
}
_WORD_ALTERNATION = "|".join(sorted(_WORDS, key=len, reverse=True))

_MONEY = re.compile(
    rf"(?P<symbol>[€$£])\s?(?P<a1>{_AMOUNT})"
    rf"|(?P<a2>{_AMOUNT})\s?(?:(?P<symbol2>[€$£])|(?P<word>{_WORD_ALTERNATION})\b)"
    rf"|\b(?P<code>eur|usd|gbp|chf)\s?(?P<a3>{_AMOUNT})",
    re.IGNORECASE,
)
# A bare number counts only after a word that makes it a budget ("budget of 90", "under 90").
_BARE_BUDGET = re.compile(
    rf"\b(?:budget(?:\s+(?:of|is))?|under|below|max(?:imum)?|up\s+to|at\s+most|less\s+than)"
    rf"\s+(?P<amount>{_AMOUNT})\b(?!\s?(?:%|percent|years?|kg|cm|km|[€$£]))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MoneyMention:
    """An amount found in text; [start, end) covers the amount and its currency as written."""

    text: str
    start: int
    end: int
    amount: Decimal
    currency_code: str

    def money(self) -> fashion_pb2.Money:
        return from_decimal(self.amount, self.currency_code)


def _decimal(text: str) -> Decimal:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?", text):
        return Decimal(text.replace(",", ""))
    return Decimal(text.replace(",", "."))


def find_money(text: str, default_currency: str = "EUR") -> list[MoneyMention]:
    """Amounts with a currency, plus bare amounts introduced as a budget, in order of appearance."""
    mentions: list[MoneyMention] = []
    for match in _MONEY.finditer(text):
        amount = match.group("a1") or match.group("a2") or match.group("a3")
        symbol = match.group("symbol") or match.group("symbol2")
        if symbol:
            currency = _SYMBOLS[symbol]
        elif match.group("word"):
            currency = _WORDS[match.group("word").lower()]
        else:
            currency = match.group("code").upper()
        mentions.append(
            MoneyMention(match.group(0), match.start(), match.end(), _decimal(amount), currency)
        )
    taken = [(mention.start, mention.end) for mention in mentions]
    for match in _BARE_BUDGET.finditer(text):
        start, end = match.span("amount")
        if any(start < taken_end and taken_start < end for taken_start, taken_end in taken):
            continue
        amount = match.group("amount")
        mentions.append(MoneyMention(amount, start, end, _decimal(amount), default_currency))
    return sorted(mentions, key=lambda mention: mention.start)


def budget_from(mentions: list[MoneyMention]) -> fashion_pb2.Money | None:
    """The spending limit: the smallest amount named, since a limit is what one must stay under."""
    if not mentions:
        return None
    return min(mentions, key=lambda mention: mention.amount).money()
