"""Errors raised by the planning domain rules.

The API maps them to problem+json: `DomainError` -> 422 (naming the field), and
`InvalidTransition` -> 409 (the resource is in a state that forbids the action).
"""

from __future__ import annotations


class DomainError(ValueError):
    """Input that breaks a domain rule; `field` names the offending request field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidTransition(Exception):
    """A status change that the state machine does not allow from the current status."""

    def __init__(self, entity: str, status: str, action: str, message: str | None = None) -> None:
        self.entity = entity
        self.status = status
        self.action = action
        self.message = message or f"cannot {action} a {entity} that is {status}"
        super().__init__(self.message)
