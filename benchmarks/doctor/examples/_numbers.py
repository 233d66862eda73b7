"""Offline parallel corpus: counted things in Spanish and English, made by rules.

Each pair is a short sentence with a number (1 to 999,999, spelled out) of a noun, e.g.
``tengo doscientas una casas`` / ``i have two hundred one houses``. Spanish numbers agree with
the noun's gender (``un perro``, ``una casa``, ``veintiún perros``, ``doscientas casas``), so the
model must carry the noun's gender back to the number, and the word order differs between the
two (``treinta y uno`` / ``thirty one``). Generated with a seeded ``random.Random``, in random
order; nothing is downloaded.
"""

from __future__ import annotations

import random


def _words(text: str) -> list[str]:
    return text.split()


_EN_ONES = _words("zero one two three four five six seven eight nine ten eleven twelve thirteen")
_EN_ONES += _words("fourteen fifteen sixteen seventeen eighteen nineteen")
_EN_TENS = _words("_ _ twenty thirty forty fifty sixty seventy eighty ninety")
_ES_ONES = _words("cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce trece")
_ES_ONES += _words("catorce quince dieciséis diecisiete dieciocho diecinueve veinte")
_ES_TWENTIES = _words("_ veintiuno veintidós veintitrés veinticuatro veinticinco veintiséis")
_ES_TWENTIES += _words("veintisiete veintiocho veintinueve")
_ES_TENS = _words("_ _ veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa")
_ES_HUNDREDS = _words("_ ciento doscientos trescientos cuatrocientos quinientos seiscientos")
_ES_HUNDREDS += _words("setecientos ochocientos novecientos")

# (Spanish singular, plural, gender; English singular, plural)
NOUNS = [
    ("casa", "casas", "f", "house", "houses"),
    ("perro", "perros", "m", "dog", "dogs"),
    ("libro", "libros", "m", "book", "books"),
    ("mesa", "mesas", "f", "table", "tables"),
    ("gato", "gatos", "m", "cat", "cats"),
    ("ciudad", "ciudades", "f", "city", "cities"),
    ("árbol", "árboles", "m", "tree", "trees"),
    ("mujer", "mujeres", "f", "woman", "women"),
    ("hombre", "hombres", "m", "man", "men"),
    ("niño", "niños", "m", "child", "children"),
    ("flor", "flores", "f", "flower", "flowers"),
    ("coche", "coches", "m", "car", "cars"),
]
# (Spanish, English singular, English plural)
FRAMES = [
    ("tengo", "i have", "i have"),
    ("vemos", "we see", "we see"),
    ("hay", "there is", "there are"),
    ("ellos compran", "they buy", "they buy"),
    ("ella quiere", "she wants", "she wants"),
]


def english(n: int) -> str:
    """``n`` in 1..999,999 in English words (``two hundred one``, no "and")."""
    if n >= 1000:
        rest = english(n % 1000) if n % 1000 else ""
        return f"{english(n // 1000)} thousand {rest}".strip()
    if n >= 100:
        rest = english(n % 100) if n % 100 else ""
        return f"{_EN_ONES[n // 100]} hundred {rest}".strip()
    if n >= 20:
        return f"{_EN_TENS[n // 10]} {_EN_ONES[n % 10]}" if n % 10 else _EN_TENS[n // 10]
    return _EN_ONES[n]


def spanish(n: int, gender: str, before_noun: bool = True) -> str:
    """``n`` in 1..999,999 in Spanish words agreeing with a noun of ``gender`` ("m" or "f")."""
    if n >= 1000:
        head = "" if n // 1000 == 1 else spanish(n // 1000, gender) + " "
        rest = " " + spanish(n % 1000, gender, before_noun) if n % 1000 else ""
        return f"{head}mil{rest}"
    if n >= 100:
        if n == 100:
            return "cien"
        hundreds = _ES_HUNDREDS[n // 100]
        if gender == "f" and n // 100 > 1:
            hundreds = hundreds[:-2] + "as"
        return f"{hundreds} {spanish(n % 100, gender, before_noun)}" if n % 100 else hundreds
    if n % 10 == 1 and n != 11:  # uno / un / una, veintiuno / veintiún / veintiuna
        one = "una" if gender == "f" else ("un" if before_noun else "uno")
        if n == 1:
            return one
        if n == 21:
            return {"una": "veintiuna", "un": "veintiún", "uno": "veintiuno"}[one]
        return f"{_ES_TENS[n // 10]} y {one}"
    if n > 20 and n < 30:
        return _ES_TWENTIES[n - 20]
    if n >= 30:
        return f"{_ES_TENS[n // 10]} y {_ES_ONES[n % 10]}" if n % 10 else _ES_TENS[n // 10]
    return _ES_ONES[n]


def pairs(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` (Spanish, English) sentence pairs; numbers log-uniform over 1..999,999."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = max(1, int(10 ** rng.uniform(0, 6)) % 1_000_000)
        es_sg, es_pl, gender, en_sg, en_pl = rng.choice(NOUNS)
        es_frame, en_sg_frame, en_pl_frame = rng.choice(FRAMES)
        one = n == 1
        es = f"{es_frame} {spanish(n, gender)} {es_sg if one else es_pl}"
        en = f"{en_sg_frame if one else en_pl_frame} {english(n)} {en_sg if one else en_pl}"
        out.append((es, en))
    return out
