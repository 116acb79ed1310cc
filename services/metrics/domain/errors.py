"""The one error type the metrics domain raises: a named field and a readable message."""

from __future__ import annotations


class DomainError(ValueError):
    """A rule of the metrics domain was broken by the caller's input.

    `field` names the input at fault (e.g. ``"period"``, ``"start"``) so the API can render it
    as a 422 with a pointer; `message` says what was wrong in words a person can act on.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
