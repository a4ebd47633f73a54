"""The simulator's configuration: one small frozen dataclass, validated on construction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

__all__ = ["DEFAULT_TOKEN", "SimulatorConfig"]

#: The account-level token ``mom pagerduty-sim`` accepts when none is given. It is a
#: well-known development value, not a secret: the simulator guards nothing real.
DEFAULT_TOKEN = "sim-token"

_REGION_HOSTS = {
    "us": ("https://api.pagerduty.com", "pagerduty.com"),
    "eu": ("https://api.eu.pagerduty.com", "eu.pagerduty.com"),
}


@dataclasses.dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes a simulated PagerDuty account and how it answers.

    Example::

        cfg = SimulatorConfig(seed=7, incidents=3000, token="tok", rate_limit_per_min=960)

    ``now`` anchors the generated data (the account spans ``months`` months before it) and
    freezes the simulator's clock, which makes every body reproducible. When ``now`` is
    ``None`` the anchor is the start of the current UTC day and the clock is the wall clock.

    ``public_url`` is the base that ``self`` links use (default: the region's real API host,
    like the real API); ``html_url`` links use ``https://<subdomain>.pagerduty.com`` (or the
    ``eu.`` form). Tokens never appear in ``repr``.
    """

    seed: int = 1
    incidents: int = 3000
    token: str = dataclasses.field(default=DEFAULT_TOKEN, repr=False)
    read_only_token: str | None = dataclasses.field(default=None, repr=False)
    #: A user-level API key acting as ``user_token_email`` (default: the first user).
    user_token: str | None = dataclasses.field(default=None, repr=False)
    user_token_email: str | None = None
    latency_ms: float = 0.0
    rate_limit_per_min: int = 960
    region: Literal["us", "eu"] = "us"
    public_url: str | None = None
    subdomain: str = "acme"
    now: dt.datetime | None = None
    months: int = 12
    #: Probability that a request answers a 5xx error instead of its real answer.
    fault_rate: float = 0.0
    #: Probability that a request's connection is dropped mid-response.
    drop_rate: float = 0.0
    #: Budget of the per-incident JSON cache (MB); pages of cached incidents are a join.
    render_cache_mb: int = 64
    #: How many users the account has (spread over its six teams and their rotations).
    users: int = 36
    #: The account's plan: the Analytics API answers on ``business`` only; on
    #: ``professional`` it answers PagerDuty's 402 "Missing Account Ability" (code 2014).
    plan: Literal["business", "professional"] = "business"
    #: How far back the Analytics API holds data (days, 0: everything). PagerDuty publishes
    #: no figure; a request reaching further back is a 400 naming ``created_at_start``, so
    #: clients can be tested against a retention limit.
    analytics_retention_days: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.incidents, int) or self.incidents < 0:
            raise ValueError(f"incidents must be a non-negative integer, got {self.incidents!r}")
        if self.incidents > 2_000_000:
            raise ValueError("incidents must be at most 2,000,000 (memory grows with the count)")
        if not self.token or any(c.isspace() for c in self.token):
            raise ValueError("token must be a non-empty string without spaces")
        for name in ("read_only_token", "user_token"):
            value = getattr(self, name)
            if value is not None and (not value or any(c.isspace() for c in value)):
                raise ValueError(f"{name} must be a non-empty string without spaces")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")
        if not isinstance(self.rate_limit_per_min, int) or self.rate_limit_per_min < 1:
            raise ValueError(
                f"rate_limit_per_min must be a positive integer, got {self.rate_limit_per_min!r}"
            )
        if self.region not in _REGION_HOSTS:
            raise ValueError(f"region must be 'us' or 'eu', got {self.region!r}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"public_url must start with http:// or https://: {self.public_url!r}")
        if not self.subdomain.replace("-", "").isalnum():
            raise ValueError(f"subdomain must be letters, digits and '-': {self.subdomain!r}")
        if self.now is not None and self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc))")
        if not 1 <= self.months <= 60:
            raise ValueError(f"months must be between 1 and 60, got {self.months!r}")
        if not isinstance(self.users, int) or not 12 <= self.users <= 800:
            raise ValueError(f"users must be an integer between 12 and 800, got {self.users!r}")
        if not isinstance(self.analytics_retention_days, int) or self.analytics_retention_days < 0:
            raise ValueError(
                "analytics_retention_days must be an integer >= 0, got "
                f"{self.analytics_retention_days!r}"
            )
        if self.plan not in ("business", "professional"):
            raise ValueError(f"plan must be 'business' or 'professional', got {self.plan!r}")
        if not isinstance(self.render_cache_mb, int) or self.render_cache_mb < 0:
            raise ValueError(f"render_cache_mb must be an integer >= 0: {self.render_cache_mb!r}")
        for name in ("fault_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")

    @property
    def api_base(self) -> str:
        """The base of ``self`` URLs, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return _REGION_HOSTS[self.region][0]

    @property
    def web_base(self) -> str:
        """The base of ``html_url`` links: the account's web app host for its region."""
        return f"https://{self.subdomain}.{_REGION_HOSTS[self.region][1]}"

    def anchor(self) -> dt.datetime:
        """The end of the generated span: ``now`` or the start of today (UTC)."""
        if self.now is not None:
            return self.now.astimezone(dt.timezone.utc)
        today = dt.datetime.now(dt.timezone.utc)
        return today.replace(hour=0, minute=0, second=0, microsecond=0)
