"""Campaigns (活动策划): statuses, budget in a currency, resources, milestones, risk plan and
a summary rolled up from goal progress and insights."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from services.planning.domain.errors import DomainError, InvalidTransition
from services.planning.domain.goals import GoalProgress, GoalStatus
from services.planning.domain.insights import Insight
from services.planning.domain.timezones import require_aware

# --- statuses -------------------------------------------------------------------------------


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    PLANNED = "planned"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class CampaignAction(StrEnum):
    PLAN = "plan"
    LAUNCH = "launch"
    END = "end"
    CANCEL = "cancel"


_OPEN = frozenset({CampaignStatus.DRAFT, CampaignStatus.PLANNED, CampaignStatus.LIVE})
_TRANSITIONS: dict[CampaignAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    CampaignAction.PLAN: (frozenset({CampaignStatus.DRAFT}), CampaignStatus.PLANNED),
    # A small team may launch a draft directly; planning is a step, not a gate.
    CampaignAction.LAUNCH: (
        frozenset({CampaignStatus.DRAFT, CampaignStatus.PLANNED}),
        CampaignStatus.LIVE,
    ),
    CampaignAction.END: (frozenset({CampaignStatus.LIVE}), CampaignStatus.ENDED),
    CampaignAction.CANCEL: (_OPEN, CampaignStatus.CANCELLED),
}


def campaign_transition(
    status: CampaignStatus | str, action: CampaignAction | str
) -> CampaignStatus:
    current, act = CampaignStatus(status), CampaignAction(action)
    allowed_from, result = _TRANSITIONS[act]
    if current not in allowed_from:
        raise InvalidTransition("campaign", current.value, act.value)
    return result


# --- money ----------------------------------------------------------------------------------

# Active ISO 4217 codes (2024 list, funds and metals included as issued).
ISO_4217_CODES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA
    XXX YER ZAR ZMW ZWG ZWL
    """.split()
)

# Minor-unit digits where they differ from the usual 2.
_MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def validate_currency(code: str, field_name: str = "currency") -> str:
    clean = code.strip().upper() if isinstance(code, str) else ""
    if len(clean) != 3 or not clean.isalpha() or clean not in ISO_4217_CODES:
        raise DomainError(field_name, f"{code!r} is not an ISO 4217 currency code, e.g. CNY")
    return clean


def to_amount(value: Decimal | int | str | float, currency: str, field_name: str) -> Decimal:
    """A non-negative Decimal with no more decimals than the currency has."""
    if isinstance(value, bool):
        raise DomainError(field_name, "must be a number")
    try:
        # str() first: a float such as 0.1 becomes Decimal('0.1'), not its binary expansion.
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainError(field_name, f"{value!r} is not a number") from None
    if not amount.is_finite():
        raise DomainError(field_name, "must be a finite number")
    if amount < 0:
        raise DomainError(field_name, "must not be negative")
    digits = minor_units(currency)
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite numbers have an int exponent
    if -exponent > digits:
        raise DomainError(field_name, f"{currency} amounts have at most {digits} decimals")
    return amount.quantize(Decimal(1).scaleb(-digits))


@dataclass(frozen=True, slots=True)
class Budget:
    amount: Decimal
    currency: str


def validate_budget(amount: Decimal | int | str | float, currency: str) -> Budget:
    code = validate_currency(currency, "budget.currency")
    return Budget(to_amount(amount, code, "budget.amount"), code)


class ResourceKind(StrEnum):
    KOL = "kol"
    PAID_ADS = "paid_ads"
    COMMUNITY = "community"
    MEDIA = "media"
    PLATFORM = "platform"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CampaignResource:
    kind: ResourceKind
    name: str
    cost: Decimal = Decimal(0)  # in the campaign budget's currency
    partner_id: str | None = None
    notes: str = ""


def validate_resource(
    kind: str, name: str, cost: Decimal | int | str | float, currency: str
) -> CampaignResource:
    try:
        resource_kind = ResourceKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in ResourceKind)
        raise DomainError("kind", f"unknown resource kind {kind!r}; allowed: {allowed}") from None
    if not name.strip():
        raise DomainError("name", "must not be empty")
    return CampaignResource(resource_kind, name.strip(), to_amount(cost, currency, "cost"))


# --- risks and milestones -------------------------------------------------------------------


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class RiskItem:
    risk: str
    likelihood: int  # 1 (rare) .. 5 (almost certain)
    impact: int  # 1 (negligible) .. 5 (severe)
    mitigation: str = ""
    owner: str | None = None

    def __post_init__(self) -> None:
        if not self.risk.strip():
            raise DomainError("risk", "must not be empty")
        for name in ("likelihood", "impact"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise DomainError(name, "must be a whole number from 1 to 5")

    @property
    def severity(self) -> int:
        """likelihood x impact, 1..25 (the usual 5x5 risk matrix)."""
        return self.likelihood * self.impact

    @property
    def level(self) -> RiskLevel:
        if self.severity >= 20:
            return RiskLevel.CRITICAL
        if self.severity >= 10:
            return RiskLevel.HIGH
        if self.severity >= 5:
            return RiskLevel.MEDIUM
        return RiskLevel.LOW


@dataclass(frozen=True, slots=True)
class Milestone:
    id: str
    title: str
    due_at: datetime
    done: bool = False

    def __post_init__(self) -> None:
        require_aware(self.due_at, "due_at")


# --- the campaign ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    status: CampaignStatus = CampaignStatus.DRAFT
    theme: str = ""
    mechanics: str = ""
    budget: Budget | None = None
    resources: Sequence[CampaignResource] = field(default_factory=tuple)
    milestones: Sequence[Milestone] = field(default_factory=tuple)
    risks: Sequence[RiskItem] = field(default_factory=tuple)
    goal_ids: Sequence[str] = field(default_factory=tuple)


def validate_campaign_period(starts_at: datetime, ends_at: datetime) -> None:
    require_aware(starts_at, "starts_at")
    require_aware(ends_at, "ends_at")
    if ends_at <= starts_at:
        raise DomainError("ends_at", "must be after starts_at")


def _money(amount: Decimal) -> str:
    return format(amount, "f")


def _budget_summary(campaign: Campaign) -> dict[str, Any] | None:
    if campaign.budget is None:
        return None
    budget = campaign.budget
    allocated = sum((r.cost for r in campaign.resources), Decimal(0))
    remaining = budget.amount - allocated
    return {
        "amount": _money(budget.amount),
        "currency": budget.currency,
        "allocated": _money(allocated.quantize(budget.amount)),
        "remaining": _money(remaining.quantize(budget.amount)),
        "over_budget": remaining < 0,
    }


def _goals_summary(campaign: Campaign, progress: Iterable[GoalProgress]) -> dict[str, Any]:
    wanted = set(campaign.goal_ids)
    goals = sorted(
        (g for g in progress if not wanted or g.goal_id in wanted), key=lambda g: g.goal_id
    )
    counted = [g for g in goals if g.status is not GoalStatus.CANCELLED]
    # Each goal weighs the same; overshooting one goal does not hide another's shortfall.
    overall = sum(min(max(g.ratio, 0.0), 1.0) for g in counted) / len(counted) if counted else None
    return {
        "total": len(counted),
        "achieved": sum(1 for g in counted if g.status is GoalStatus.ACHIEVED),
        "on_track": sum(1 for g in counted if g.status is GoalStatus.ACTIVE and g.on_track),
        "at_risk": [g.goal_id for g in counted if g.status is GoalStatus.ACTIVE and not g.on_track],
        "missed": [g.goal_id for g in counted if g.status is GoalStatus.MISSED],
        "overall_progress": None if overall is None else round(overall, 4),
        "items": [
            {
                "goal_id": g.goal_id,
                "name": g.name,
                "metric": g.metric,
                "current": g.current,
                "target": g.target,
                "ratio": g.ratio,
                "on_track": g.on_track,
                "status": g.status.value,
            }
            for g in goals
        ],
    }


def _risk_summary(risks: Sequence[RiskItem]) -> dict[str, Any]:
    ordered = sorted(risks, key=lambda r: (-r.severity, r.risk))
    serious = (RiskLevel.HIGH, RiskLevel.CRITICAL)
    return {
        "count": len(risks),
        "highest_severity": ordered[0].severity if ordered else None,
        "unmitigated_serious": [
            r.risk for r in ordered if r.level in serious and not r.mitigation.strip()
        ],
        "items": [
            {
                "risk": r.risk,
                "likelihood": r.likelihood,
                "impact": r.impact,
                "severity": r.severity,
                "level": r.level.value,
                "mitigation": r.mitigation,
                "owner": r.owner,
            }
            for r in ordered
        ],
    }


def _milestone_summary(milestones: Sequence[Milestone], now: datetime) -> dict[str, Any]:
    ordered = sorted(milestones, key=lambda m: (m.due_at, m.id))
    upcoming = [m for m in ordered if not m.done and m.due_at >= now]
    return {
        "total": len(ordered),
        "done": sum(1 for m in ordered if m.done),
        "overdue": [m.id for m in ordered if not m.done and m.due_at < now],
        "next": (
            {"id": upcoming[0].id, "title": upcoming[0].title, "due_at": upcoming[0].due_at}
            if upcoming
            else None
        ),
    }


def insight_concerns_campaign(insight: Insight, campaign_id: str) -> bool:
    """Insights whose scope or evidence names the campaign."""
    return (
        insight.scope.get("campaign_id") == campaign_id
        or insight.evidence.get("campaign_id") == campaign_id
    )


def summarise_campaign(
    campaign: Campaign,
    goal_progress: Iterable[GoalProgress],
    insights: Iterable[Insight],
    now: datetime,
) -> dict[str, Any]:
    """A rollup for the campaign page: time, money, goals, risks, milestones, learnings.
    Amounts are strings (exact decimals); datetimes stay datetimes for the API to render."""
    total = campaign.ends_at - campaign.starts_at
    elapsed = min(max(now - campaign.starts_at, total * 0), total)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": campaign.status.value,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "time_elapsed": round(elapsed / total, 4),
        "budget": _budget_summary(campaign),
        "goals": _goals_summary(campaign, goal_progress),
        "risks": _risk_summary(campaign.risks),
        "milestones": _milestone_summary(campaign.milestones, now),
        "insights": [
            {"kind": i.kind, "recommendation": i.recommendation, "evidence": dict(i.evidence)}
            for i in insights
            if insight_concerns_campaign(i, campaign.id)
        ],
    }
