"""Detectors for personal data. Each returns the first match in a text, or None.

Numbers are checked, not just pattern-matched, to keep false positives low on data full of numbers
(arithmetic answers, dates, IDs): card numbers must pass the Luhn checksum, IBANs the ISO 13616 mod-97
check and their country's length, phone numbers need 9-15 digits written the way phone numbers are
written (a leading +, an area code in parentheses, or at least two separators).
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,5}(?![\w-])")
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
THOUSANDS = re.compile(r"^\d{1,3}(?:[ .]\d{3})+$")

#: ISO 13616 lengths of common countries' IBANs (others: 15-34 characters)
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18,
    "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IT": 27, "LT": 20, "LU": 20, "LV": 21, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "TR": 26,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    iban = text.replace(" ", "")
    if not 15 <= len(iban) <= 34 or IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_email(text: str) -> str | None:
    m = EMAIL.search(text)
    return m.group(0) if m else None


def find_phone(text: str) -> str | None:
    for m in PHONE.finditer(text):
        candidate = m.group(0)
        digits = re.sub(r"\D", "", candidate)
        if not 9 <= len(digits) <= 15 or THOUSANDS.match(candidate):
            continue
        separators = len(re.findall(r"[\s.-]", candidate.strip()))
        if candidate.startswith("+") or "(" in candidate or separators >= 2:
            return candidate
    return None


def find_card(text: str) -> str | None:
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return m.group(0)
    return None


def find_iban(text: str) -> str | None:
    for m in IBAN.finditer(text):
        if iban_ok(m.group(0)):
            return m.group(0)
    return None


DETECTORS: dict[str, Callable[[str], str | None]] = {
    "email": find_email,
    "phone": find_phone,
    "credit_card": find_card,
    "iban": find_iban,
}


def mask(value: str) -> str:
    """Enough of a match to recognise it in a report, not enough to copy it."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]
