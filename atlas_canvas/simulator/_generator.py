"""The deterministic account generator: same seed, same account, byte for byte.

Only ``random.Random(seed)`` drives the choices and all times derive from the anchor, so
two runs with the same ``(seed, incidents, anchor, months)`` give identical data.

The shape aims at what real accounts look like: a handful of teams, each with a weekly
primary/secondary rotation and an escalation policy; services with their own monitoring
checks; incident arrivals following business hours and the working week; a few noisy
machine-driven services that flap in bursts of low-urgency incidents; most incidents
acknowledged within minutes and resolved within hours; and recent incidents still open.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
import unicodedata
import zoneinfo

from ._model import (
    Account,
    EscalationPolicy,
    Incident,
    Note,
    Priority,
    Schedule,
    Service,
    Team,
    User,
)
from ._schedules import FUTURE_DAYS
from ._schedules import finish as finish_schedules
from ._timefmt import add_months

__all__ = ["ACCOUNT_TIME_ZONE", "generate_account"]

ACCOUNT_TIME_ZONE = "America/New_York"
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_WEEK = 7 * 86400

_FIRST = (
    "Dana Alex Sam Priya Chen Maria Jonas Aisha Tomás Yuki Noah Fatima Liam Olga Kwame Sofia "
    "Ravi Elena Marcus Ines Hiro Zoe Mateo Leila Ben Anya Omar Clara Diego Mei Felix Nora"
).split()
_LAST = (
    "Ortiz Kim Novak Patel Wong Garcia Berg Khan Silva Tanaka Fischer Haddad Murphy Ivanova "
    "Mensah Rossi Iyer Petrova Brown Costa Sato Meyer Lopez Nasser Cohen Li Dubois Andersen"
).split()

# (team, description, [(service, slug, noisy, [(title, check key)])])
_CATALOGUE: tuple[
    tuple[str, str, tuple[tuple[str, str, bool, tuple[tuple[str, str], ...]], ...]], ...
] = (
    (
        "Payments",
        "Checkout, billing and the ledger",
        (
            (
                "Checkout API",
                "checkout-api",
                False,
                (
                    ("Checkout API 5xx rate above 5%", "5xx-rate"),
                    ("Checkout API p99 latency above 2s", "p99-latency"),
                    ("Checkout API health check failing", "health"),
                ),
            ),
            (
                "Payments Gateway",
                "payments-gateway",
                False,
                (
                    ("Card authorisation failures above threshold", "auth-failures"),
                    ("Payments Gateway upstream timeout (acquirer)", "acquirer-timeout"),
                ),
            ),
            (
                "Ledger Worker",
                "ledger-worker",
                False,
                (
                    ("Ledger Worker queue backlog above 10k", "queue-backlog"),
                    ("Ledger reconciliation job failed", "reconciliation"),
                ),
            ),
        ),
    ),
    (
        "Platform",
        "Kubernetes, databases and the message bus",
        (
            (
                "Kubernetes Cluster prod-us-east",
                "k8s-prod-us-east",
                True,
                (
                    ("Node NotReady in prod-us-east", "node-not-ready"),
                    ("Pod CrashLoopBackOff in prod-us-east", "crashloop"),
                    ("Disk pressure on prod-us-east worker", "disk-pressure"),
                ),
            ),
            (
                "Postgres Primary",
                "postgres-primary",
                False,
                (
                    ("Postgres replication lag above 60s", "replication-lag"),
                    ("Postgres connections above 90%", "connections"),
                ),
            ),
            (
                "Kafka",
                "kafka",
                False,
                (
                    ("Kafka under-replicated partitions", "under-replicated"),
                    ("Kafka consumer lag above threshold", "consumer-lag"),
                ),
            ),
        ),
    ),
    (
        "Data",
        "Pipelines and the warehouse",
        (
            (
                "Data Pipeline (Airflow)",
                "airflow",
                True,
                (
                    ("Airflow DAG failed: nightly_etl", "dag-nightly-etl"),
                    ("Airflow DAG failed: hourly_events", "dag-hourly-events"),
                    ("Airflow scheduler heartbeat missing", "scheduler-heartbeat"),
                ),
            ),
            (
                "Warehouse Loader",
                "warehouse-loader",
                False,
                (
                    ("Warehouse load delayed more than 2h", "load-delay"),
                    ("Warehouse Loader schema mismatch", "schema-mismatch"),
                ),
            ),
        ),
    ),
    (
        "Mobile",
        "iOS, Android and their backend",
        (
            (
                "Push Notification Service",
                "push-service",
                False,
                (
                    ("APNs delivery failures above 2%", "apns-failures"),
                    ("FCM quota exhausted", "fcm-quota"),
                ),
            ),
            (
                "Mobile BFF",
                "mobile-bff",
                False,
                (
                    ("Mobile BFF error rate elevated", "error-rate"),
                    ("Mobile BFF pods restarting", "restarts"),
                ),
            ),
        ),
    ),
    (
        "Identity",
        "Login, SSO and tokens",
        (
            (
                "Auth Service",
                "auth-service",
                False,
                (
                    ("Login success rate below 95%", "login-success"),
                    ("Auth Service token signing errors", "token-signing"),
                ),
            ),
            (
                "SSO Gateway",
                "sso-gateway",
                False,
                (
                    ("SAML assertion failures spiking", "saml-failures"),
                    ("SSO Gateway certificate expires in 7 days", "cert-expiry"),
                ),
            ),
        ),
    ),
    (
        "Search",
        "Search API and indexing",
        (
            (
                "Search API",
                "search-api",
                False,
                (
                    ("Search API latency above 800ms", "latency"),
                    ("Search API 5xx rate elevated", "5xx-rate"),
                ),
            ),
            (
                "Search Indexer",
                "search-indexer",
                True,
                (
                    ("Indexer lag above 15 minutes", "indexer-lag"),
                    ("Indexer shard relocation stuck", "shard-relocation"),
                ),
            ),
        ),
    ),
)

_INTEGRATIONS = (
    ("Datadog", "generic_events_api_inbound_integration"),
    ("Prometheus Alertmanager", "generic_events_api_inbound_integration"),
    ("CloudWatch", "aws_cloudwatch_inbound_integration"),
    ("Nagios", "nagios_inbound_integration"),
)

_PRIORITIES = (
    ("P1", "Critical: customer-facing outage", "a8171c"),
    ("P2", "High: major degradation", "eb6016"),
    ("P3", "Moderate: partial degradation", "f9b406"),
    ("P4", "Low: minor issue", "0e8a16"),
    ("P5", "Informational", "8a8a8a"),
)

NOTE_TEXTS = (
    "Looking into it.",
    "Rolled back the last deploy; error rate recovering.",
    "Root cause: expired credentials on the upstream. Rotated.",
    "Flapping check, tuning the threshold tomorrow.",
    "Scaled the worker pool from 6 to 10.",
    "Customer impact confirmed for EU users only.",
    "Failover completed, monitoring.",
    "Known issue with the vendor; status page updated.",
)

_JOB_TITLES = ("Engineering Manager", "Site Reliability Engineer", "Software Engineer")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


_COLORS = ("red", "green", "blue", "purple", "orange", "teal", "brown", "cayenne", "indigo")


def _pd_id(rng: random.Random, seen: set[str], prefix: str, length: int) -> str:
    while True:
        value = prefix + "".join(rng.choice(_ID_CHARS) for _ in range(length - 1))
        if value not in seen:
            seen.add(value)
            return value


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _rhythm(local: dt.datetime) -> float:
    """Relative arrival rate of human-driven incidents at a local time (peak 1.0)."""
    weekday, hour = local.weekday(), local.hour
    if weekday >= 5:
        return 0.3 if 9 <= hour < 21 else 0.15
    if 10 <= hour < 17:
        # Deploy days (Tue-Thu) break more.
        return 1.0 if 1 <= weekday <= 3 else 0.8
    if 8 <= hour < 20:
        return 0.5
    return 0.18


def _is_business_hours(local: dt.datetime) -> bool:
    return local.weekday() < 5 and 9 <= local.hour < 18


def generate_account(
    seed: int = 1,
    incidents: int = 3000,
    *,
    now: dt.datetime | None = None,
    months: int = 12,
    users: int = 36,
) -> Account:
    """Build a whole account deterministically.

    Example::

        acct = generate_account(seed=7, incidents=500,
                                now=datetime(2026, 1, 1, tzinfo=timezone.utc))
        acct.incidents[0].number  # 1, the oldest incident

    ``now`` is the end of the span (default: the start of today, UTC); incidents cover the
    ``months`` months before it, numbered 1.. in creation order. ``users`` (at least 12)
    are spread over the six teams; each team's members share its rotations.
    """
    if users < 12:
        raise ValueError(f"users must be at least 12 (two per team), got {users!r}")
    if now is None:
        now = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    anchor = calendar.timegm(now.astimezone(dt.timezone.utc).utctimetuple())
    start = add_months(anchor, -months)
    rng = random.Random(seed)
    seen: set[str] = set()
    zone = zoneinfo.ZoneInfo(ACCOUNT_TIME_ZONE)
    account_created = add_months(start, -18)

    teams: list[Team] = []
    team_sizes = [users // 6 + (1 if t < users % 6 else 0) for t in range(6)]
    users_list: list[User] = []
    schedules: list[Schedule] = []
    policies: list[EscalationPolicy] = []
    services: list[Service] = []
    names = rng.sample([f"{f} {last}" for f in _FIRST for last in _LAST], users + 2)
    # Rotations hand off on a Monday 09:00 local, like most real schedules.
    monday = dt.datetime.fromtimestamp(account_created, zone).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    monday -= dt.timedelta(days=monday.weekday())
    rotation_start = calendar.timegm(monday.astimezone(dt.timezone.utc).utctimetuple())

    for t_idx, (team_name, team_desc, team_services) in enumerate(_CATALOGUE):
        team = Team(t_idx, _pd_id(rng, seen, "P", 7), team_name, team_desc)
        teams.append(team)
        members: list[int] = []
        for k in range(team_sizes[t_idx]):
            name = names[len(users_list)]
            first, last = name.split(" ", 1)
            users_list.append(
                User(
                    idx=len(users_list),
                    id=_pd_id(rng, seen, "P", 7),
                    name=name,
                    email=_ascii(f"{first}.{last}@example.com".lower()),
                    time_zone=rng.choice(
                        (
                            ACCOUNT_TIME_ZONE,
                            ACCOUNT_TIME_ZONE,
                            "Europe/Berlin",
                            "America/Los_Angeles",
                        )
                    ),
                    color=rng.choice(_COLORS),
                    role=("owner" if t_idx == 0 else "admin") if k == 0 else "user",
                    job_title=_JOB_TITLES[min(k, 2) if k < 2 else 1 + k % 2],
                    teams=[t_idx],
                    created_at=account_created + rng.randrange(0, 180 * 86400),
                )
            )
            members.append(len(users_list) - 1)
        rotation = members[1:] + members[:1]
        primary = Schedule(
            len(schedules),
            _pd_id(rng, seen, "P", 7),
            f"{team_name} Primary",
            rotation,
            rotation_start,
            _WEEK,
        )
        schedules.append(primary)
        # The secondary is the same people one week later: last week's primary backs up.
        secondary = Schedule(
            len(schedules),
            _pd_id(rng, seen, "P", 7),
            f"{team_name} Secondary",
            rotation[-1:] + rotation[:-1],
            rotation_start,
            _WEEK,
        )
        schedules.append(secondary)
        policy = EscalationPolicy(
            idx=len(policies),
            id=_pd_id(rng, seen, "P", 7),
            name=f"{team_name} On-call",
            description=f"Primary, then secondary on-call of {team_name}",
            team=t_idx,
            rules=[
                (_pd_id(rng, seen, "P", 7), 30, primary.idx),
                (_pd_id(rng, seen, "P", 7), 30, secondary.idx),
            ],
            num_loops=2,
        )
        policies.append(policy)
        for svc_name, slug, noisy, checks in team_services:
            integration = rng.choice(_INTEGRATIONS)
            services.append(
                Service(
                    idx=len(services),
                    id=_pd_id(rng, seen, "P", 7),
                    name=svc_name,
                    slug=slug,
                    description=f"{svc_name} ({team_name})",
                    team=t_idx,
                    escalation_policy=policy.idx,
                    created_at=account_created + rng.randrange(0, 90 * 86400),
                    auto_resolve_timeout=14400 if noisy else None,
                    acknowledgement_timeout=1800,
                    integration_id=_pd_id(rng, seen, "P", 7),
                    integration_name=integration[0],
                    integration_type=integration[1],
                    noisy=noisy,
                    checks=list(checks),
                )
            )
    priorities = [
        Priority(i, _pd_id(rng, seen, "P", 7), name, desc, color)
        for i, (name, desc, color) in enumerate(_PRIORITIES)
    ]
    account = Account(
        seed=seed,
        anchor=anchor,
        start=start,
        time_zone=ACCOUNT_TIME_ZONE,
        teams=teams,
        users=users_list,
        schedules=schedules,
        escalation_policies=policies,
        services=services,
        priorities=priorities,
        incidents=[],
    )
    # Layers, overrides and the rendered final schedules, before anyone is assigned.
    finish_schedules(account, seed, anchor + FUTURE_DAYS * 86400)
    account.incidents = _incidents(account, rng, seen, incidents, zone)
    return account


def _arrivals(
    account: Account, rng: random.Random, count: int, zone: zoneinfo.ZoneInfo
) -> list[tuple[int, int, int]]:
    """(created_at, service idx, check idx) for ``count`` incidents, sorted by time."""
    services = account.services
    # With their bursts, the noisy services raise about a third of all incidents.
    weights = [1.6 if s.noisy else 1.0 + (s.idx * 7 % 5) * 0.5 for s in services]
    span = account.anchor - account.start
    out: list[tuple[int, int, int]] = []
    while len(out) < count:
        svc = rng.choices(range(len(services)), weights)[0]
        service = services[svc]
        while True:
            at = account.start + rng.randrange(span)
            local = dt.datetime.fromtimestamp(at, zone)
            # Machines flap around the clock; humans' changes break things in office hours.
            rate = 0.6 + 0.4 * _rhythm(local) if service.noisy else _rhythm(local)
            if rng.random() < rate:
                break
        check = rng.randrange(len(service.checks))
        burst = 1
        if service.noisy and rng.random() < 0.4:
            burst = 2 + int(rng.expovariate(1 / 3))
        for _ in range(min(burst, count - len(out))):
            if at < account.anchor:
                out.append((at, svc, check))
            at += 120 + rng.randrange(1500)
    out.sort()
    return out


def _incidents(
    account: Account,
    rng: random.Random,
    seen: set[str],
    count: int,
    zone: zoneinfo.ZoneInfo,
) -> list[Incident]:
    result: list[Incident] = []
    titles: dict[str, str] = {}
    anchor = account.anchor
    for number, (created, svc, check) in enumerate(_arrivals(account, rng, count, zone), 1):
        service = account.services[svc]
        title, check_key = service.checks[check]
        title = titles.setdefault(title, title)
        if rng.random() < 0.8:
            key = f"{service.slug}/{check_key}"
        else:
            key = f"{rng.getrandbits(128):032x}"
        urgency = (
            ("low" if rng.random() < 0.8 else "high")
            if service.noisy
            else ("high" if rng.random() < 0.75 else "low")
        )
        roll = rng.random()
        if urgency == "high":
            priority = 0 if roll < 0.05 else 1 if roll < 0.2 else 2 if roll < 0.4 else -1
        else:
            priority = 3 if roll < 0.1 else 4 if roll < 0.2 else -1
        alerts = 1
        if service.noisy:
            alerts = 1 + int(rng.expovariate(1 / 2.5))
        elif rng.random() < 0.15:
            alerts = 2 + rng.randrange(3)
        inc = Incident(
            number,
            _pd_id(rng, seen, "Q", 14),
            created,
            svc,
            title,
            key,
            urgency,
            priority,
            min(alerts, 40),
        )
        inc.log_seed = rng.getrandbits(32)
        local = dt.datetime.fromtimestamp(created, zone)
        business = _is_business_hours(local)
        ep = service.escalation_policy
        primary = account.on_call(ep, 1, created)
        inc.assignees = (primary,)
        inc.assigned_at = created

        age = anchor - created
        roll = rng.random()
        if age < 2 * 3600:
            fate = "triggered" if roll < 0.45 else "acknowledged" if roll < 0.8 else "resolved"
        elif age < 86400:
            fate = "triggered" if roll < 0.1 else "acknowledged" if roll < 0.3 else "resolved"
        elif age < 7 * 86400:
            fate = "acknowledged" if roll < 0.03 else "resolved"
        else:
            fate = "acknowledged" if roll < 0.001 else "resolved"

        acked = fate == "acknowledged" or (
            fate == "resolved" and rng.random() < (0.88 if urgency == "high" else 0.45)
        )
        escalation_delay = account.escalation_policies[ep].rules[0][1] * 60
        if acked:
            delay = int(_lognormal(rng, 180 if business else 480, 0.9)) + 15
            if fate == "acknowledged":
                delay = min(delay, max(age - 60, 15))
            if delay > escalation_delay and urgency == "high":
                inc.escalated_at = created + escalation_delay
                inc.level = 2
                inc.assignees = (account.on_call(ep, 2, created),)
                inc.assigned_at = inc.escalated_at
            inc.ack_at = created + delay
            inc.ack_by = inc.assignees[0]
            inc.status = "acknowledged"
            inc.updated_at = inc.ack_at
        elif fate == "triggered" and urgency == "high" and age > escalation_delay:
            inc.escalated_at = created + escalation_delay
            inc.level = 2
            inc.assignees = (account.on_call(ep, 2, created),)
            inc.assigned_at = inc.escalated_at
            inc.updated_at = inc.escalated_at

        if fate == "resolved":
            base = inc.ack_at or created
            if acked:
                median = 2400 if urgency == "high" else 3 * 3600
                took = int(_lognormal(rng, median, 1.0)) + 30
                resolver = (
                    inc.ack_by
                    if rng.random() < 0.85
                    else rng.choice([u.idx for u in account.users if service.team in u.teams])
                )
            elif service.auto_resolve_timeout and rng.random() < 0.3:
                took = service.auto_resolve_timeout
                resolver = -2
            else:
                took = int(_lognormal(rng, 900, 1.1)) + 60
                resolver = -1
            resolved = min(base + took, anchor - 1)
            resolved = max(resolved, base + 1)
            inc.resolved_at = resolved
            inc.resolved_by = resolver
            inc.status = "resolved"
            inc.assignees = ()
            inc.updated_at = resolved

        if acked and rng.random() < (0.25 if urgency == "high" else 0.05):
            n_notes = 1 + (rng.random() < 0.3)
            notes = []
            for k in range(n_notes):
                end = inc.resolved_at or anchor
                at = inc.ack_at + max(1, int((end - inc.ack_at) * (k + 1) / (n_notes + 1)))
                notes.append(
                    Note(
                        _pd_id(rng, seen, "P", 7),
                        inc.ack_by,
                        NOTE_TEXTS[rng.randrange(len(NOTE_TEXTS))],
                        min(at, max(end - 1, inc.ack_at)),
                    )
                )
            inc.notes = notes
            inc.updated_at = max(inc.updated_at, notes[-1].created_at)
        result.append(inc)
    _keep_some_open(account, result)
    return result


def _keep_some_open(account: Account, incidents: list[Incident]) -> None:
    """Make sure a few of the newest incidents are still open, whatever the account size.

    Large accounts get open incidents from the age-based fates above; a small one spreads
    few incidents over the span, so its newest would otherwise all be long resolved.
    """
    quota = min(len(incidents), max(3, len(incidents) // 250))
    open_now = sum(1 for i in incidents if i.status != "resolved")
    triggered = any(i.status == "triggered" for i in incidents)
    for inc in reversed(incidents):
        if open_now >= quota:
            return
        if inc.status != "resolved":
            continue
        inc.resolved_at, inc.resolved_by = 0, -1
        if not triggered:
            # Nobody has picked the newest one up yet.
            inc.ack_at, inc.ack_by, inc.notes = 0, -1, None
            triggered = True
        if inc.ack_at:
            inc.status = "acknowledged"
            inc.assignees = (inc.ack_by,)
        else:
            inc.status = "triggered"
            ep = account.services[inc.service].escalation_policy
            inc.assignees = (account.on_call(ep, inc.level, inc.created_at),)
        last_note = inc.notes[-1].created_at if inc.notes else 0
        inc.updated_at = max(inc.created_at, inc.ack_at, inc.escalated_at, last_note)
        open_now += 1
