"""The explicit list of channels and how to build each one's connector.

Modules are imported when a connector is first built, not when this module is, so a channel
whose module is missing or broken cannot stop the publisher from starting: `build_connector`
raises `ConnectorUnavailable` for that channel only, and `available_channels` leaves it out.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.publisher.connectors.base import Connector


class UnknownChannel(LookupError):
    def __init__(self, channel: str) -> None:
        super().__init__(f"unknown channel {channel!r}; known: {', '.join(CONNECTORS)}")
        self.channel = channel


class ConnectorUnavailable(RuntimeError):
    """The channel is known but its module or class cannot be loaded."""


@dataclass(frozen=True)
class ConnectorSpec:
    """Where a channel's connector class lives (module path, class name)."""

    module: str
    class_name: str

    def load(self, channel: str) -> type:
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise ConnectorUnavailable(f"{self.module} cannot be loaded: {exc}") from exc
        cls = getattr(module, self.class_name, None)
        if cls is None:
            # Tolerate a renamed class: the module's class that declares this channel.
            cls = next(
                (
                    v
                    for v in vars(module).values()
                    if isinstance(v, type) and getattr(v, "channel", None) == channel
                ),
                None,
            )
        if cls is None:
            raise ConnectorUnavailable(f"{self.module} has no {self.class_name}")
        return cls


_PACKAGE = "services.publisher.connectors"

# channel -> connector class. The one place a new channel is added.
CONNECTORS: dict[str, ConnectorSpec] = {
    "sandbox": ConnectorSpec(f"{_PACKAGE}.sandbox", "SandboxConnector"),
    "webhook": ConnectorSpec(f"{_PACKAGE}.webhook", "WebhookConnector"),
    "mastodon": ConnectorSpec(f"{_PACKAGE}.mastodon", "MastodonConnector"),
    "wechat_mp": ConnectorSpec(f"{_PACKAGE}.wechat_mp", "WeChatMpConnector"),
    "weibo": ConnectorSpec(f"{_PACKAGE}.weibo", "WeiboConnector"),
    "rss": ConnectorSpec(f"{_PACKAGE}.rss", "RssConnector"),
    "email": ConnectorSpec(f"{_PACKAGE}.email", "EmailConnector"),
}


def known_channels() -> list[str]:
    return list(CONNECTORS)


def connector_class(channel: str) -> type:
    spec = CONNECTORS.get(channel)
    if spec is None:
        raise UnknownChannel(channel)
    return spec.load(channel)


def available_channels() -> list[str]:
    """The known channels whose connector loads."""
    available = []
    for channel in CONNECTORS:
        try:
            connector_class(channel)
        except ConnectorUnavailable:
            continue
        available.append(channel)
    return available


def build_connector(channel: str, **deps: Any) -> Connector:
    """Build the channel's connector from the dependencies the composition root offers.

    Each connector takes what its constructor names (client, guard, clock, base_url, ...);
    the rest is ignored, so one bootstrap can pass the same set to every channel. A required
    parameter that is not offered raises ConnectorUnavailable naming it.
    """
    cls = connector_class(channel)
    params = inspect.signature(cls).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    chosen = deps if accepts_any else {k: v for k, v in deps.items() if k in params}
    missing = [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in chosen
    ]
    if missing:
        raise ConnectorUnavailable(f"{channel} connector needs {', '.join(missing)}")
    return cls(**chosen)


ConnectorFactory = Callable[..., Connector]


def factory_for(channel: str) -> ConnectorFactory:
    """A callable that builds the channel's connector (importing its module on first call)."""
    if channel not in CONNECTORS:
        raise UnknownChannel(channel)
    return lambda **deps: build_connector(channel, **deps)


class ConnectorRegistry:
    """The connectors one process uses, by channel. Test doubles register here too."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._by_channel: dict[str, Connector] = {}
        self.skipped: dict[str, str] = {}  # channel -> why `build` left it out
        for connector in connectors:
            self.register(connector)

    @classmethod
    def build(cls, channels: Iterable[str] | None = None, **deps: Any) -> ConnectorRegistry:
        """Every requested channel (default: all known) that can be built from `deps`;
        channels that cannot be loaded or built are skipped (see `skipped`)."""
        registry = cls()
        for channel in channels if channels is not None else CONNECTORS:
            try:
                registry.register(build_connector(channel, **deps))
            except ConnectorUnavailable as exc:
                registry.skipped[channel] = str(exc)
        return registry

    def register(self, connector: Connector) -> None:
        self._by_channel[connector.channel] = connector

    def get(self, channel: str) -> Connector:
        try:
            return self._by_channel[channel]
        except KeyError:
            raise UnknownChannel(channel) from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._by_channel

    def channels(self) -> list[str]:
        return list(self._by_channel)
