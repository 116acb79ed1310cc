from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.planning.domain.campaigns import (
    Campaign,
    CampaignResource,
    CampaignStatus,
    Milestone,
    ResourceKind,
    RiskItem,
    RiskLevel,
    campaign_transition,
    summarise_campaign,
    validate_budget,
    validate_campaign_period,
    validate_resource,
)
from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.goals import GoalProgress, GoalStatus
from services.planning.domain.insights import Insight

START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2025, 6, 11, tzinfo=UTC)


def test_campaign_lifecycle():
    status = CampaignStatus.DRAFT
    for action, expected in [("plan", "planned"), ("launch", "live"), ("end", "ended")]:
        status = campaign_transition(status, action)
        assert status == expected
    assert campaign_transition("draft", "launch") is CampaignStatus.LIVE
    assert campaign_transition("live", "cancel") is CampaignStatus.CANCELLED


@pytest.mark.parametrize(
    ("status", "action"),
    [("ended", "launch"), ("cancelled", "plan"), ("draft", "end"), ("ended", "cancel")],
)
def test_forbidden_campaign_transitions(status, action):
    with pytest.raises(InvalidTransition) as err:
        campaign_transition(status, action)
    assert err.value.entity == "campaign"


def test_budget_currency_and_decimals():
    assert validate_budget("1999.5", "cny") == validate_budget(Decimal("1999.50"), "CNY")
    assert validate_budget(0.1, "USD").amount == Decimal("0.10")
    assert validate_budget(5000, "JPY").amount == Decimal("5000")
    assert validate_budget("1.234", "KWD").amount == Decimal("1.234")


@pytest.mark.parametrize(
    ("amount", "currency", "field", "fragment"),
    [
        ("100", "RMB", "budget.currency", "ISO 4217"),
        ("100", "US", "budget.currency", "ISO 4217"),
        ("-1", "CNY", "budget.amount", "negative"),
        ("1.5", "JPY", "budget.amount", "at most 0 decimals"),
        ("1.005", "EUR", "budget.amount", "at most 2 decimals"),
        ("abc", "EUR", "budget.amount", "not a number"),
        ("NaN", "EUR", "budget.amount", "finite"),
    ],
)
def test_bad_budgets(amount, currency, field, fragment):
    with pytest.raises(DomainError) as err:
        validate_budget(amount, currency)
    assert err.value.field == field
    assert fragment in err.value.message


def test_resource_validation():
    assert validate_resource("kol", " Ms Li ", "3000", "CNY") == CampaignResource(
        ResourceKind.KOL, "Ms Li", Decimal("3000.00")
    )
    with pytest.raises(DomainError) as err:
        validate_resource("billboard", "x", 1, "CNY")
    assert err.value.field == "kind" and "paid_ads" in err.value.message


def test_period_must_move_forward():
    validate_campaign_period(START, END)
    with pytest.raises(DomainError) as err:
        validate_campaign_period(END, START)
    assert err.value.field == "ends_at"


def test_risk_severity_and_level():
    assert RiskItem("KOL cancels", likelihood=2, impact=2).level is RiskLevel.LOW
    assert RiskItem("Server overload", likelihood=3, impact=3).severity == 9
    assert RiskItem("Server overload", likelihood=3, impact=3).level is RiskLevel.MEDIUM
    assert RiskItem("Backlash", likelihood=4, impact=4).level is RiskLevel.HIGH
    assert RiskItem("Ban", likelihood=4, impact=5).level is RiskLevel.CRITICAL
    with pytest.raises(DomainError) as err:
        RiskItem("x", likelihood=6, impact=1)
    assert err.value.field == "likelihood"
    with pytest.raises(DomainError) as err:
        RiskItem("x", likelihood=1, impact=0)
    assert err.value.field == "impact"


def test_summary_rolls_up_goals_budget_risks_milestones_and_insights():
    campaign = Campaign(
        id="c1",
        name="618 sale",
        starts_at=START,
        ends_at=END,
        status=CampaignStatus.LIVE,
        budget=validate_budget("10000", "CNY"),
        resources=(
            CampaignResource(ResourceKind.KOL, "Ms Li", Decimal("6000.00")),
            CampaignResource(ResourceKind.PAID_ADS, "Feed ads", Decimal("2500.50")),
        ),
        milestones=(
            Milestone("m1", "Teaser", START, done=True),
            Milestone("m2", "Assets ready", START + timedelta(days=2)),
            Milestone("m3", "Launch live", START + timedelta(days=5)),
        ),
        risks=(
            RiskItem("Stock runs out", 2, 3, mitigation="hold back 10 %"),
            RiskItem("KOL backlash", 4, 5),
        ),
        goal_ids=("g1", "g2", "g3"),
    )
    progress = [
        GoalProgress("g2", "Sales", "conversions", 500, 100, 0.2, False),
        GoalProgress("g1", "Reach", "views", 10000, 12000, 1.2, True, GoalStatus.ACHIEVED),
        GoalProgress("g3", "Dropped", "likes", 100, 0, 0.0, False, GoalStatus.CANCELLED),
        GoalProgress("other", "Not ours", "likes", 100, 0, 0.0, False),
    ]
    insights = [
        Insight("channel_weights", "Shift to Douyin", {"campaign_id": "c1"}),
        Insight("best_hours", "Post at 20:00", scope={"campaign_id": "c1"}),
        Insight("best_hours", "Post at 9:00", scope={"channel": "weibo"}),
    ]
    now = START + timedelta(days=4)
    summary = summarise_campaign(campaign, progress, insights, now)
    assert summary["time_elapsed"] == 0.4
    assert summary["budget"] == {
        "amount": "10000.00",
        "currency": "CNY",
        "allocated": "8500.50",
        "remaining": "1499.50",
        "over_budget": False,
    }
    goals = summary["goals"]
    assert (goals["total"], goals["achieved"], goals["on_track"]) == (2, 1, 0)
    assert goals["at_risk"] == ["g2"]
    # (min(1.2, 1) + 0.2) / 2; the cancelled goal does not count
    assert goals["overall_progress"] == 0.6
    assert [g["goal_id"] for g in goals["items"]] == ["g1", "g2", "g3"]
    risks = summary["risks"]
    assert risks["highest_severity"] == 20
    assert risks["unmitigated_serious"] == ["KOL backlash"]
    assert risks["items"][1]["level"] == "medium"
    milestones = summary["milestones"]
    assert (milestones["total"], milestones["done"], milestones["overdue"]) == (3, 1, ["m2"])
    assert milestones["next"]["id"] == "m3"
    assert [i["recommendation"] for i in summary["insights"]] == [
        "Shift to Douyin",
        "Post at 20:00",
    ]


def test_summary_flags_over_budget_and_clamps_time():
    campaign = Campaign(
        id="c2",
        name="x",
        starts_at=START,
        ends_at=END,
        budget=validate_budget("100", "USD"),
        resources=(CampaignResource(ResourceKind.MEDIA, "Press", Decimal("150")),),
    )
    summary = summarise_campaign(campaign, [], [], END + timedelta(days=3))
    assert summary["budget"]["remaining"] == "-50.00"
    assert summary["budget"]["over_budget"] is True
    assert summary["time_elapsed"] == 1.0
    assert summary["goals"]["overall_progress"] is None
    assert summarise_campaign(campaign, [], [], START - timedelta(days=1))["time_elapsed"] == 0
