"""Fashion words and the canonical terms they stand for, shared by text and image analysis.

`find_terms` finds them in free text with exact character offsets; longer phrases win over the
words inside them ("quiet luxury" over "luxury", "t-shirt" over "shirt").
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from aura.common.v1 import fashion_pb2 as fp
from mock_services.catalogue.enums import Category, OccasionKind, PatternKind


class TermKind(enum.Enum):
    COLOR = "color"
    GARMENT = "garment"
    PATTERN = "pattern"
    STYLE = "style"
    OCCASION = "occasion"


COLOR_WORDS: dict[str, str] = {
    **{
        name: name
        for name in (
            "black",
            "white",
            "grey",
            "navy",
            "blue",
            "beige",
            "camel",
            "brown",
            "olive",
            "green",
            "burgundy",
            "red",
            "pink",
            "yellow",
            "lavender",
        )
    },
    "gray": "grey",
    "charcoal": "grey",
    "silver": "grey",
    "indigo": "navy",
    "cobalt": "blue",
    "tan": "camel",
    "cognac": "camel",
    "cream": "beige",
    "khaki": "beige",
    "sand": "beige",
    "ivory": "white",
    "chocolate": "brown",
    "maroon": "burgundy",
    "wine": "burgundy",
    "crimson": "red",
    "scarlet": "red",
    "rose": "pink",
    "blush": "pink",
    "mustard": "yellow",
    "gold": "yellow",
    "lilac": "lavender",
    "purple": "lavender",
    "emerald": "green",
    "sage": "olive",
    "khaki green": "olive",
}

GARMENT_WORDS: dict[str, Category] = {
    **dict.fromkeys(
        (
            "top",
            "shirt",
            "t-shirt",
            "tee",
            "blouse",
            "sweater",
            "jumper",
            "knit",
            "crewneck",
            "turtleneck",
            "hoodie",
            "sweatshirt",
            "camisole",
            "tank top",
            "polo",
        ),
        fp.GARMENT_CATEGORY_TOP,
    ),
    **dict.fromkeys(
        (
            "trousers",
            "pants",
            "jeans",
            "chinos",
            "skirt",
            "shorts",
            "joggers",
            "leggings",
            "culottes",
        ),
        fp.GARMENT_CATEGORY_BOTTOM,
    ),
    **dict.fromkeys(("dress", "gown", "sundress", "jumpsuit"), fp.GARMENT_CATEGORY_DRESS),
    **dict.fromkeys(
        ("blazer", "jacket", "coat", "trench", "parka", "puffer", "cardigan", "suit jacket"),
        fp.GARMENT_CATEGORY_OUTERWEAR,
    ),
    **dict.fromkeys(
        (
            "shoes",
            "shoe",
            "sneakers",
            "trainers",
            "boots",
            "loafers",
            "heels",
            "pumps",
            "sandals",
            "brogues",
            "flats",
            "mules",
        ),
        fp.GARMENT_CATEGORY_SHOES,
    ),
    **dict.fromkeys(
        (
            "bag",
            "tote",
            "clutch",
            "scarf",
            "belt",
            "hat",
            "cap",
            "watch",
            "necklace",
            "earrings",
            "jewellery",
            "jewelry",
            "sunglasses",
            "accessory",
            "accessories",
        ),
        fp.GARMENT_CATEGORY_ACCESSORY,
    ),
}

PATTERN_WORDS: dict[str, PatternKind] = {
    **dict.fromkeys(("solid", "plain"), fp.PATTERN_SOLID),
    **dict.fromkeys(("striped", "stripes", "stripe", "breton", "pinstripe"), fp.PATTERN_STRIPED),
    **dict.fromkeys(("checked", "check", "plaid", "tartan", "gingham"), fp.PATTERN_CHECKED),
    **dict.fromkeys(("floral", "flowers", "flowery", "flower"), fp.PATTERN_FLORAL),
    **dict.fromkeys(("printed", "print", "graphic", "leopard", "paisley"), fp.PATTERN_PRINTED),
}

STYLE_WORDS: dict[str, str] = {
    **dict.fromkeys(("minimalist", "minimal", "minimalism", "clean"), "minimalist"),
    **dict.fromkeys(("classic", "timeless", "elegant"), "classic"),
    **dict.fromkeys(
        ("quiet luxury", "quiet-luxury", "luxe", "luxury", "understated"), "quiet-luxury"
    ),
    **dict.fromkeys(("tailored", "sharp", "smart", "polished"), "tailored"),
    **dict.fromkeys(("streetwear", "street", "urban", "oversized"), "streetwear"),
    **dict.fromkeys(("bohemian", "boho", "hippie"), "bohemian"),
    **dict.fromkeys(("romantic", "feminine", "flowy"), "romantic"),
    **dict.fromkeys(("sporty", "athletic", "athleisure"), "sporty"),
    **dict.fromkeys(("edgy", "punk", "rock", "grunge"), "edgy"),
    **dict.fromkeys(("preppy", "collegiate", "nautical"), "preppy"),
}

OCCASION_WORDS: dict[str, OccasionKind] = {
    **dict.fromkeys(
        (
            "office",
            "work",
            "meeting",
            "meetings",
            "business",
            "interview",
            "job interview",
            "conference",
            "workplace",
        ),
        fp.OCCASION_OFFICE,
    ),
    **dict.fromkeys(
        ("wedding", "gala", "black tie", "black-tie", "ceremony", "formal", "opera", "banquet"),
        fp.OCCASION_FORMAL,
    ),
    **dict.fromkeys(
        ("party", "club", "clubbing", "night out", "birthday", "festival", "cocktail"),
        fp.OCCASION_PARTY,
    ),
    **dict.fromkeys(("date", "date night", "dinner", "anniversary"), fp.OCCASION_DATE),
    **dict.fromkeys(
        (
            "gym",
            "workout",
            "run",
            "running",
            "yoga",
            "hike",
            "hiking",
            "sport",
            "sports",
            "training",
            "tennis",
        ),
        fp.OCCASION_SPORT,
    ),
    **dict.fromkeys(
        ("travel", "travelling", "traveling", "trip", "vacation", "holiday", "flight", "airport"),
        fp.OCCASION_TRAVEL,
    ),
    **dict.fromkeys(("casual", "weekend", "everyday", "brunch", "errands"), fp.OCCASION_CASUAL),
}


@dataclass(frozen=True)
class Term:
    """A vocabulary word found in text: the span as written and what it stands for."""

    kind: TermKind
    text: str
    start: int
    end: int
    canonical: str | int


def _lexicon() -> dict[str, tuple[TermKind, str | int]]:
    lexicon: dict[str, tuple[TermKind, str | int]] = {}
    # Later tables win on a clash; occasions come last so "formal" is an occasion, not a style.
    for kind, words in (
        (TermKind.PATTERN, PATTERN_WORDS),
        (TermKind.COLOR, COLOR_WORDS),
        (TermKind.STYLE, STYLE_WORDS),
        (TermKind.GARMENT, GARMENT_WORDS),
        (TermKind.OCCASION, OCCASION_WORDS),
    ):
        for word, canonical in words.items():
            lexicon[word] = (kind, canonical)
            if kind is TermKind.GARMENT:
                plural = _plural(word)
                if plural:
                    lexicon.setdefault(plural, (kind, canonical))
    return lexicon


def _plural(word: str) -> str | None:
    if word.endswith(("sh", "ch", "ss")):
        return f"{word}es"
    return None if word.endswith("s") else f"{word}s"


@functools.cache
def _matcher() -> tuple[re.Pattern[str], dict[str, tuple[TermKind, str | int]]]:
    lexicon = _lexicon()
    # Longest first: regex alternation takes the first alternative that matches at a position.
    phrases = sorted(lexicon, key=lambda phrase: (-len(phrase), phrase))
    alternatives = "|".join(r"[\s-]+".join(map(re.escape, re.split(r"[\s-]+", p))) for p in phrases)
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    normalised = {_normalise(phrase): meaning for phrase, meaning in lexicon.items()}
    return pattern, normalised


def _normalise(phrase: str) -> str:
    return re.sub(r"[\s-]+", " ", phrase.lower())


def find_terms(text: str) -> list[Term]:
    """Every vocabulary term in `text`, in order of appearance, with [start, end) offsets."""
    pattern, lexicon = _matcher()
    terms = []
    for match in pattern.finditer(text):
        kind, canonical = lexicon[_normalise(match.group(0))]
        terms.append(Term(kind, match.group(0), match.start(), match.end(), canonical))
    return terms
