"""`diagnose_in_order` (the sliding-window form used to store diagnoses in bulk) gives the
same findings as `diagnose` post by post, and stored findings read back equal."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.metrics.domain.diagnosis import (
    DiagnosisConfig,
    PostSnapshot,
    diagnose,
    diagnose_in_order,
    diagnosis_from_dict,
)


def _posts(n: int, seed: int) -> list[PostSnapshot]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        values: dict[str, float] = {}
        for name in ("impressions", "reads", "likes", "comments", "clicks", "follows_gained"):
            if rnd.random() < 0.85:
                values[name] = float(rnd.randrange(0, 500))
        # Some posts share a publication time (ties are not each other's peers).
        at = start + timedelta(hours=rnd.randrange(0, 24 * 90) // 3 * 3)
        out.append(PostSnapshot(f"p{i}", "weibo", "article", at, "24h", values))
    return sorted(out, key=lambda p: p.published_at)


def test_in_order_equals_one_by_one() -> None:
    posts = _posts(400, 3)
    config = DiagnosisConfig(min_sample=5)
    bulk = dict((p.publication_id, f) for p, f in diagnose_in_order(posts, config))
    assert len(bulk) == len(posts)
    checked = 0
    for post in posts:
        expected = diagnose(post, posts, config)
        assert bulk[post.publication_id] == expected, post.publication_id
        checked += len(expected)
    assert checked > 100  # verdicts and not_enough_data both exercised


def test_checkpoint_not_diagnosed_gives_nothing() -> None:
    posts = [
        PostSnapshot(p.publication_id, p.channel, p.format, p.published_at, "1h", p.values)
        for p in _posts(20, 4)
    ]
    assert all(f == [] for _, f in diagnose_in_order(posts))


def test_stored_form_round_trips() -> None:
    posts = _posts(200, 5)
    for _post, findings in diagnose_in_order(posts):
        for finding in findings:
            assert diagnosis_from_dict(finding.as_dict()) == finding
