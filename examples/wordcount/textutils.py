"""A project module shared by the scripts: each imports it as it would locally."""

import re

WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    """The lowercase words of ``text``."""
    return WORD.findall(text.lower())
