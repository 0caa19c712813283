"""The policies every message meets when it is about to go out (not only when it was queued):
opt-out per channel, quiet hours in the organisation's timezone, a frequency cap per client per
7 days, no messages to clients who left (outflow) or were erased, and a rate limit per channel.

Opt-outs live in `opt_outs` (client, channel); `set_opt_out` is what the daemon calls for STOP
and START, and what `caseload client optout` calls for a coach.
"""

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from . import access, audit
from .clock import iso, parse_iso
from .db import write_transaction
from .errors import BadInput
from .i18n import t

CHANNELS = ("sms", "email")
OPT_OUT_SOURCES = ("reply", "link", "coach", "import", "system")
NO_MESSAGES = ("outflow", "erased")  # client statuses that get nothing
WEEK = timedelta(days=7)
_QUIET = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def next_start(self, now: datetime, tz) -> datetime:
        """The next moment (UTC) quiet hours begin, after `now`."""
        local = now.astimezone(tz)
        start = datetime.combine(local.date(), self.start, tzinfo=tz)
        if start <= local:
            start = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=tz)
        return start.astimezone(timezone.utc)

    def until(self, now: datetime, tz) -> datetime | None:
        """When the quiet period `now` falls in ends (UTC), or None when `now` is not quiet."""
        local = now.astimezone(tz)
        t_ = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= t_ < self.end
            end_day = local.date()
        else:  # wraps midnight, e.g. 21:00-08:00
            quiet = t_ >= self.start or t_ < self.end
            end_day = local.date() + timedelta(days=1) if t_ >= self.start else local.date()
        if not quiet:
            return None
        return datetime.combine(end_day, self.end, tzinfo=tz).astimezone(timezone.utc)


def quiet_hours(config) -> QuietHours | None:
    """config.policy.quiet_hours ("21:00-08:00"; "" for none); BadInput names the key."""
    text = config.policy.quiet_hours
    if not text.strip():
        return None
    m = _QUIET.fullmatch(text)
    bad = BadInput(t("config.bad_value", key="policy.quiet_hours", file=config.path or "config.toml", value=text))
    if not m:
        raise bad
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        raise bad
    return QuietHours(time(h1, m1), time(h2, m2))


def quiet_until(config, now: datetime) -> datetime | None:
    q = quiet_hours(config)
    return q.until(now, config.tz) if q else None


# --- rate limit: a sliding estimate over per-minute counters shared by every sender ---------

def rate_limit(config, channel: str) -> int:
    """Messages per minute for a channel; 0 or less means no limit."""
    return config.policy.rate_per_minute_email if channel == "email" else config.policy.rate_per_minute_sms


def rate_budget(conn, config, channel: str, now: datetime) -> int | None:
    """How many messages this channel may still start now; None when it has no limit."""
    limit = rate_limit(config, channel)
    if limit <= 0:
        return None
    ts = now.timestamp()
    minute, frac = int(ts // 60), (ts % 60) / 60
    used = dict(conn.execute("SELECT minute, used FROM channel_usage WHERE channel = ? AND minute >= ?",
                             [channel, minute - 1]).fetchall())
    estimate = used.get(minute - 1, 0) * (1 - frac) + used.get(minute, 0)
    return max(0, int(limit - estimate))


def use_rate(conn, channel: str, now: datetime, n: int) -> None:
    """Count n started messages (inside the claim's transaction)."""
    if n <= 0:
        return
    minute = int(now.timestamp() // 60)
    conn.execute("INSERT INTO channel_usage (channel, minute, used) VALUES (?, ?, ?)"
                 " ON CONFLICT (channel, minute) DO UPDATE SET used = used + excluded.used", [channel, minute, n])
    conn.execute("DELETE FROM channel_usage WHERE minute < ?", [minute - 1])


# --- frequency cap --------------------------------------------------------------------------

def recent_counts(conn, config, client_ids, now: datetime) -> dict[int, tuple[int, str | None]]:
    """For each client: messages in the last 7 days (being sent by any sender included; system
    messages not) and when the oldest of them went out. One query per 500 clients."""
    if config.policy.max_per_week <= 0:
        return {}
    ids = sorted(set(client_ids))
    out = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out.update({cid: (n, oldest) for cid, n, oldest in conn.execute(
            f"SELECT client_id, COUNT(*), MIN(sent_at) FROM messages WHERE client_id IN ({', '.join('?' * len(chunk))})"
            " AND kind != 'system' AND (sent_at > ? OR status = 'sending') GROUP BY client_id",
            [*chunk, iso(now - WEEK)])})
    return out


def frequency_deferral(config, recent: tuple[int, str | None] | None, now: datetime,
                       claimed_now: int = 0) -> datetime | None:
    """None when the client may get another message now, else when the oldest message in the
    7-day window drops out (`recent` from recent_counts)."""
    cap = config.policy.max_per_week
    n, oldest = recent or (0, None)
    if cap <= 0 or n + claimed_now < cap:
        return None
    if oldest is None:  # only messages in flight elsewhere: look again soon
        return now + timedelta(minutes=10)
    return parse_iso(oldest) + WEEK + timedelta(seconds=1)


# --- opt-out --------------------------------------------------------------------------------

def _channels(channel: str) -> tuple[str, ...]:
    if channel == "all":
        return CHANNELS
    if channel not in CHANNELS:
        raise BadInput(t("policy.bad_channel", channel=channel, allowed="sms, email, all"))
    return (channel,)


def set_opt_out(store, client_id: int, channel: str, opted_out: bool = True, source: str = "reply",
                actor=None, now: datetime | None = None) -> bool:
    """Record an opt-out (STOP) or opt-in (START) for a channel ("sms", "email" or "all"),
    honoured from this moment: queued messages on that channel are cancelled at once (system
    messages, such as the confirmation, excepted). True when something changed. Audited."""
    if source not in OPT_OUT_SOURCES:
        raise BadInput(t("policy.bad_source", source=source, allowed=", ".join(OPT_OUT_SOURCES)))
    channels = _channels(channel)
    actor = actor or access.system_actor("daemon")
    at = iso(now or datetime.now(timezone.utc))
    changed = False
    with write_transaction(store.db) as conn:
        if conn.execute("SELECT 1 FROM clients WHERE id = ?", [client_id]).fetchone() is None:
            raise BadInput(t("policy.no_client", id=client_id))
        for ch in channels:
            if opted_out:
                cur = conn.execute("INSERT OR IGNORE INTO opt_outs (client_id, channel, at, source) VALUES (?, ?, ?, ?)",
                                   [client_id, ch, at, source])
                conn.execute("UPDATE messages SET status = 'cancelled', reason = 'opt_out', updated_at = ?"
                             " WHERE client_id = ? AND channel = ? AND status = 'queued' AND kind != 'system'",
                             [at, client_id, ch])
            else:
                cur = conn.execute("DELETE FROM opt_outs WHERE client_id = ? AND channel = ?", [client_id, ch])
            changed |= cur.rowcount > 0
        if changed:
            audit.record(store.db, actor, "opt_out" if opted_out else "opt_in", f"client:{client_id}")
    return changed


def opted_out_channels(db, client_id: int) -> set[str]:
    return {r[0] for r in db.execute("SELECT channel FROM opt_outs WHERE client_id = ?", [client_id])}
