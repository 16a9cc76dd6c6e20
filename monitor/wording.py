"""Counts in words, for what the command line prints: "1 line", "2 lines", "1 person", "3 people"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` (with thousands separators) and `noun`, in the plural (`noun` + "s" unless given) for any n but 1."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
