"""Errors the publisher's rules raise; the API maps them to problem+json."""

from __future__ import annotations


class DomainError(ValueError):
    """Input breaks a rule (422 at the API); `field` names the offending input when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidTransition(DomainError):
    """A publication cannot move from its current status with this action (409 at the API)."""

    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"cannot {action} a publication that is {status}", field="status")
        self.status = status
        self.action = action
