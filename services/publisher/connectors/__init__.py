"""Connectors: one per channel behind the `base.Connector` interface; see `registry`."""
