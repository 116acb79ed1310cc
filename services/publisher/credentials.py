"""Credentials at rest: a MultiFernet over `settings.credentials_keys` (comma-separated).

The first key encrypts; every key decrypts, so keys rotate by putting the new key first,
re-encrypting (`reencrypt_all`, also `mediaops`-side through `rotate_credentials`), then
dropping the old one. The API never returns credentials, only which fields are set.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

# Fields a refresh must never blank out: a platform that answers a refresh without a new
# refresh token means "keep the old one".
STICKY_FIELDS = ("refresh_token",)


class CredentialsError(ValueError):
    pass


class CredentialBox:
    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise CredentialsError("MEDIAOPS_CREDENTIALS_KEYS holds no key")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError) as exc:
            raise CredentialsError(f"a credentials key is not a Fernet key: {exc}") from exc

    def encrypt(self, credentials: dict[str, Any]) -> bytes | None:
        if not credentials:
            return None
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def decrypt(self, token: bytes | None) -> dict[str, Any]:
        if not token:
            return {}
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(bytes(token)))
        except InvalidToken as exc:
            raise CredentialsError(
                "credentials cannot be decrypted with the configured keys"
            ) from exc
        return data

    def rotate(self, token: bytes | None) -> bytes | None:
        """The same secret re-encrypted with the first (newest) key."""
        return self._fernet.rotate(bytes(token)) if token else None


def merge_credentials(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """New values win, but an empty or missing sticky field keeps the old value."""
    merged = {**old, **{k: v for k, v in new.items() if v is not None}}
    for key in STICKY_FIELDS:
        if not new.get(key) and old.get(key):
            merged[key] = old[key]
    return merged


async def reencrypt_all(session: AsyncSession, box: CredentialBox) -> int:
    """Re-encrypt every secret with the newest key (run after adding one, before dropping the
    old one): channel credentials and webhook signing secrets."""
    from services.publisher.tables import Account
    from services.publisher.webhooks.tables import WebhookSubscription

    rows = (
        await session.scalars(
            select(Account).where(Account.credentials_enc.is_not(None)).with_for_update()
        )
    ).all()
    for row in rows:
        row.credentials_enc = box.rotate(row.credentials_enc)
    hooks = (await session.scalars(select(WebhookSubscription).with_for_update())).all()
    for hook in hooks:
        hook.secret_enc = box.rotate(hook.secret_enc)  # type: ignore[assignment]
    return len(rows) + len(hooks)


async def rotate_credentials(database_url: str, keys: str) -> int:
    """Entry point for operators (`mediaops rotate-credentials`)."""
    from shared.db import Database

    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            return await reencrypt_all(session, CredentialBox(keys))
    finally:
        await db.dispose()


if __name__ == "__main__":  # pragma: no cover - operator tool
    import asyncio

    from shared.config import get_settings

    s = get_settings()
    url = s.service_database_url("publisher")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    print(f"re-encrypted {asyncio.run(rotate_credentials(url, s.credentials_keys))} accounts")
