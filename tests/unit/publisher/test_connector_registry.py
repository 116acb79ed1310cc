import pytest

from services.publisher.connectors import registry
from services.publisher.connectors.registry import (
    ConnectorRegistry,
    ConnectorSpec,
    ConnectorUnavailable,
    UnknownChannel,
    build_connector,
    known_channels,
)
from services.publisher.connectors.sandbox import SandboxConnector


def test_known_channels_are_the_explicit_list():
    assert known_channels() == [
        "sandbox",
        "webhook",
        "mastodon",
        "wechat_mp",
        "weibo",
        "rss",
        "email",
    ]


def test_build_passes_only_what_the_constructor_takes():
    connector = build_connector("sandbox", base_url="http://sb", guard=object(), timeout=3.0)
    assert isinstance(connector, SandboxConnector)
    assert (connector.base_url, connector.timeout) == ("http://sb", 3.0)


def test_missing_required_dependency_is_named():
    with pytest.raises(ConnectorUnavailable, match="base_url"):
        build_connector("sandbox")


def test_unknown_channel():
    with pytest.raises(UnknownChannel):
        build_connector("myspace")
    with pytest.raises(UnknownChannel):
        ConnectorRegistry().get("sandbox")


def test_a_missing_module_only_disables_its_channel(monkeypatch):
    monkeypatch.setitem(
        registry.CONNECTORS, "ghost", ConnectorSpec("services.publisher.connectors.nope", "X")
    )
    assert "ghost" not in registry.available_channels()
    assert "sandbox" in registry.available_channels()
    built = ConnectorRegistry.build(["sandbox", "ghost"], base_url="http://sb")
    assert built.channels() == ["sandbox"]
    assert "cannot be loaded" in built.skipped["ghost"]
    assert isinstance(built.get("sandbox"), SandboxConnector)


def test_a_renamed_class_is_found_by_its_channel(monkeypatch):
    spec = ConnectorSpec("services.publisher.connectors.sandbox", "OldName")
    monkeypatch.setitem(registry.CONNECTORS, "sandbox", spec)
    assert registry.connector_class("sandbox") is SandboxConnector
    monkeypatch.setitem(registry.CONNECTORS, "other", spec)
    with pytest.raises(ConnectorUnavailable, match="OldName"):
        registry.connector_class("other")


def test_test_doubles_register_like_real_connectors():
    class Double:
        channel = "sandbox"

    reg = ConnectorRegistry([Double()])
    assert "sandbox" in reg and isinstance(reg.get("sandbox"), Double)
