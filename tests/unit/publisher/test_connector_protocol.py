import httpx
import pytest

from services.publisher.connectors.base import Connector
from services.publisher.connectors.email import EmailConnector
from services.publisher.connectors.mastodon import MastodonConnector
from services.publisher.connectors.rss import InMemoryFeedStore, RssConnector
from services.publisher.connectors.ssrf import UrlGuard
from services.publisher.connectors.webhook import WebhookConnector
from services.publisher.connectors.wechat_mp import WeChatMpConnector
from services.publisher.connectors.weibo import WeiboConnector

CLIENT = httpx.AsyncClient()
GUARD = UrlGuard()


@pytest.mark.parametrize(
    ("connector", "channel"),
    [
        (WebhookConnector(CLIENT, guard=GUARD), "webhook"),
        (MastodonConnector(CLIENT, guard=GUARD), "mastodon"),
        (WeChatMpConnector(CLIENT), "wechat_mp"),
        (WeiboConnector(CLIENT), "weibo"),
        (RssConnector(InMemoryFeedStore()), "rss"),
        (EmailConnector(guard=GUARD), "email"),
    ],
)
def test_every_connector_implements_the_interface(connector: object, channel: str) -> None:
    assert isinstance(connector, Connector)
    assert connector.channel == channel
