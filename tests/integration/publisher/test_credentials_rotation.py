"""Key rotation: add a key in front, re-encrypt, drop the old key; every secret still reads."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from services.publisher.app import create_app
from services.publisher.credentials import CredentialBox, CredentialsError, rotate_credentials
from services.publisher.tables import Account
from services.publisher.webhooks.tables import WebhookSubscription
from tests.conftest import client_for, make_token, settings_for_tests

pytestmark = pytest.mark.infra


@pytest.fixture
async def own_db(pg_url):  # type: ignore[no-untyped-def]
    """Rotation walks every secret of the schema: a database of its own, so other tests'
    accounts (encrypted with other keys) are not part of it."""
    import asyncio
    import uuid

    from shared.migrations import upgrade
    from tests.support import infra

    name = f"mediaops_rotation_{uuid.uuid4().hex[:8]}"
    url = await infra.create_database(name)
    await asyncio.to_thread(upgrade, "publisher", url)
    yield url
    await infra.drop_database(name)


async def test_rotation_reencrypts_credentials_and_webhook_secrets(own_db, make_runtime):
    pg_url = own_db
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = settings_for_tests(
        pg_url, MEDIAOPS_CREDENTIALS_KEYS=old, MEDIAOPS_URL_ALLOW_LIST=["127.0.0.1"]
    )
    runtime = await make_runtime(settings, ["publisher"], roles=["api"])
    app = create_app(runtime.contexts["publisher"])
    ws = "ws-rotate"
    async with client_for(app, make_token(settings, workspace=ws)) as c:
        r = await c.post(
            "/v1/accounts",
            json={
                "channel": "sandbox",
                "name": "main",
                "credentials": {"access_token": "tok-123", "refresh_token": "ref-456"},
            },
        )
        assert r.status_code == 201, r.text
        r = await c.post(
            "/v1/webhooks/subscriptions",
            json={
                "url": "http://127.0.0.1:9/hooks",
                "event_types": ["mediaops.publisher.publication.published"],
            },
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]

    assert await rotate_credentials(pg_url, f"{new},{old}") >= 2
    only_new = CredentialBox(new)
    only_old = CredentialBox(old)
    async with runtime.contexts["publisher"].db.session() as s:
        account = await s.scalar(select(Account).where(Account.workspace_id == ws))
        hook = await s.scalar(
            select(WebhookSubscription).where(WebhookSubscription.workspace_id == ws)
        )
    assert only_new.decrypt(account.credentials_enc)["refresh_token"] == "ref-456"
    assert only_new.decrypt(hook.secret_enc)["secret"] == secret
    with pytest.raises(CredentialsError):
        only_old.decrypt(account.credentials_enc)
