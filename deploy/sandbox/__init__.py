"""The sandbox platform: a simulated social network, in memory (`create_sandbox_app`)."""

from deploy.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
