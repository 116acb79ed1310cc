"""Webhook subscriptions for outside tools: any event of the catalog, delivered to a URL,
signed per Standard Webhooks, persisted with every attempt, retried with back-off, disabled
after repeated failure, replayable."""
