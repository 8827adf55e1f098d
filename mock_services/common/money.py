"""Money arithmetic on `aura.common.v1.Money`, exact to the nano.

Amounts are handled as integer nanos so sums and comparisons never suffer float rounding. Prices in
the catalogue are in EUR; budgets in a few other currencies are converted at fixed mock rates so a
"$80" budget still filters.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from aura.common.v1 import fashion_pb2

NANOS_PER_UNIT = 1_000_000_000
CATALOGUE_CURRENCY = "EUR"

# Fixed rates, EUR per unit of the currency: a mock has no business calling a rates service.
EUR_PER_UNIT: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.17"),
    "CHF": Decimal("1.06"),
}

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF "}

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
_MAX_NANOS = NANOS_PER_UNIT - 1


def to_nanos(money: fashion_pb2.Money) -> int:
    """The amount as one integer of nano units."""
    return money.units * NANOS_PER_UNIT + money.nanos


def from_nanos(total_nanos: int, currency_code: str = CATALOGUE_CURRENCY) -> fashion_pb2.Money:
    """Splits nanos into units and nanos with the same sign, as google.type.Money requires."""
    sign = -1 if total_nanos < 0 else 1
    units, nanos = divmod(abs(total_nanos), NANOS_PER_UNIT)
    return fashion_pb2.Money(currency_code=currency_code, units=sign * units, nanos=sign * nanos)


def from_decimal(
    amount: Decimal | str, currency_code: str = CATALOGUE_CURRENCY
) -> fashion_pb2.Money:
    """Money from a decimal amount such as "89.90"."""
    nanos = (Decimal(amount) * NANOS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN)
    return from_nanos(int(nanos), currency_code)


def to_decimal(money: fashion_pb2.Money) -> Decimal:
    return Decimal(to_nanos(money)) / NANOS_PER_UNIT


def to_catalogue_nanos(money: fashion_pb2.Money) -> int:
    """The amount converted to the catalogue currency, in nanos. The currency must be supported."""
    rate = EUR_PER_UNIT[money.currency_code]
    return int((Decimal(to_nanos(money)) * rate).to_integral_value(rounding=ROUND_HALF_EVEN))


def format_money(money: fashion_pb2.Money) -> str:
    """Human-readable amount, e.g. "€89.90"."""
    amount = to_decimal(money).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    symbol = CURRENCY_SYMBOLS.get(money.currency_code)
    return f"{symbol}{amount}" if symbol else f"{amount} {money.currency_code}"


def money_problems(
    money: fashion_pb2.Money, *, allow_negative: bool = False
) -> list[tuple[str, str]]:
    """What is wrong with an amount, as (subfield, description) pairs; empty when it is valid."""
    problems: list[tuple[str, str]] = []
    if not _CURRENCY_CODE.match(money.currency_code):
        problems.append(("currency_code", "must be an ISO 4217 code such as EUR"))
    elif money.currency_code not in EUR_PER_UNIT:
        supported = ", ".join(sorted(EUR_PER_UNIT))
        problems.append(("currency_code", f"unsupported currency; use one of {supported}"))
    if not -_MAX_NANOS <= money.nanos <= _MAX_NANOS:
        problems.append(("nanos", "must be between -999,999,999 and 999,999,999"))
    if (money.units > 0 and money.nanos < 0) or (money.units < 0 and money.nanos > 0):
        problems.append(("nanos", "must have the same sign as units"))
    if not allow_negative and (money.units < 0 or money.nanos < 0):
        problems.append(("units", "must not be negative"))
    return problems
