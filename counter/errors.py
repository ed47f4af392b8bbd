"""Errors of the counter: each exception's docstring is its default message."""

from __future__ import annotations


class CounterError(Exception):
    """The count could not be carried out."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class BltError(CounterError):
    """The BLT file is not well formed."""

    def __init__(self, message: str | None = None, *, line: int | None = None) -> None:
        text = message or (self.__doc__ or "").strip()
        if line is not None:
            text = f"line {line}: {text}"
        super().__init__(text)
        self.line = line


class UnknownRule(CounterError):
    """No counting rule has that name."""


class RuleSpecError(CounterError):
    """The rule's parameters are not valid."""


class ProfileError(CounterError):
    """The ballot profile is not valid for this count."""


class ConstraintError(CounterError):
    """The minimum-representation constraint is not valid."""


class CandidatesFileError(CounterError):
    """The candidates file is not valid."""
