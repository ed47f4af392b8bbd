"""Every error of the booth; each docstring is its default message (shown to the member)."""

from __future__ import annotations

from typing import Any


class BoothError(Exception):
    """Something went wrong."""

    status = 400

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        super().__init__(self.message)


class CodeRefused(BoothError):
    """That voting code was not recognised. Check it against your letter and try again."""

    status = 403


class RateLimited(BoothError):
    """Too many wrong codes have been tried. Wait a few minutes, then try again."""

    status = 429


class NotSignedIn(BoothError):
    """Your session has ended. Sign in again with your voting code."""

    status = 401


class FormExpired(BoothError):
    """This form has expired. Go back, reload the page and try again."""

    status = 403


class AlreadyVoted(BoothError):
    """You have already voted in this election."""

    status = 409


class PollNotOpen(BoothError):
    """Voting is not open in this election."""

    status = 409


class LedgerUnavailable(BoothError):
    """Your vote could not be sent just now. Nothing was recorded: try again in a minute."""

    status = 503


class LedgerRefused(BoothError):
    """The ballot box refused this ballot."""

    status = 422


class CodesError(BoothError):
    """The voting codes could not be issued."""
