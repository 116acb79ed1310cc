"""Things that run beside the services: the sandbox platform, deployment helpers."""
