"""Typed errors raised on bad input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, named by record and field.

    Parameters
    ----------
    where
        The record and field, e.g. ``workers[ben].capacity`` or
        ``travel[3] (north-south).minutes``.
    message
        What is wrong, in plain words.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class InvalidInstanceError(ValueError):
    """An instance (or other input) that breaks the format's rules.

    Every problem found is listed at once in :attr:`problems`, so a caller can
    fix them all in one pass instead of discovering them one by one.
    """

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        head = f"invalid input: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))
