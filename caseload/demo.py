"""A realistic synthetic caseload for trying caseload out, and for the benchmarks.

Outflow depends on characteristics the way practice reports it: about 20% in a half year on
average, near 0% with physical complaints, illiteracy or personal problems, and high in the
first year in bijstand whether or not the client does work-first (which adds a little).
"""

import random
import re
import unicodedata
from datetime import date, timedelta

from . import access, audit
from .clock import utcnow
from .db import write_transaction


def _insert_sql(table: str, columns: list[str]) -> str:
    cols = ["client_id", *columns]
    return (f"INSERT INTO {table} ({', '.join(chr(34) + c + chr(34) for c in cols)})"
            f" VALUES ({', '.join('?' * len(cols))})")


OUTFLOW_MIX = [("fulltime", 35), ("parttime", 30), ("self_employed", 5), ("education", 10), ("moved", 12),
               ("other", 8)]
TEXTS = {
    "interests": ["koken", "fietsen", "voetbal", "tuinieren", "muziek", "techniek", "zorg voor dieren",
                  "computers", "handwerk", "lezen"],
    "talents": ["goed met mensen", "handig", "punctueel", "creatief", "talenknobbel", "rekenen", "organiseren"],
    "drivers": ["eigen geld verdienen", "voorbeeld zijn voor de kinderen", "collega's", "structuur",
                "iets betekenen voor anderen", "schulden aflossen"],
}
NOTES = ["Gebeld, gaat redelijk.", "Afspraak verzet op verzoek van klant.", "Heeft interesse in de cursus VCA.",
         "Vraagt om hulp bij het invullen van formulieren.", "Start binnenkort met vrijwilligerswerk.",
         "Telefonisch niet bereikbaar, sms gestuurd."]
BARRIER_KEYS = ("physical_complaints", "low_literacy", "illiteracy", "personal_problems")

_EMAIL_UNSAFE = re.compile(r"[^a-z0-9.-]")  # a last name such as "Werl-Arnsberg, van" has a comma


def _ts(d: date, rng: random.Random) -> str:
    return f"{d.isoformat()}T{rng.randint(7, 19):02d}:{rng.randint(0, 59):02d}:00Z"


def _people(n: int, rng: random.Random, seed: int):
    from faker import Faker

    fake = Faker("nl_NL")
    fake.seed_instance(seed)
    firsts = list({fake.first_name() for _ in range(600)})
    lasts = list({fake.last_name() for _ in range(1500)})
    return firsts, lasts


def _value(c, s: float, rng: random.Random, latent: dict):
    """A plausible value for characteristic c given self-reliance s in [0, 1]."""
    if c.key in latent:
        return latent[c.key]
    if c.type == "scale":
        span = c.max - c.min
        v = c.min + span * min(max(rng.gauss(s, 0.18), 0), 1)
        if c.key in ("loneliness", "stress_level"):
            v = c.max + c.min - v
        return int(round(v))
    if c.type == "bool":
        p = 0.5 if c.key in ("has_cv", "job_search_active", "driving_licence") else 0.2
        return rng.random() < (p + (s - 0.5) * 0.3 if c.key in ("has_cv", "job_search_active") else p)
    if c.type == "enum":
        return rng.choice(c.values)
    if c.type == "number":
        lo, hi = c.min if c.min is not None else 0, c.max if c.max is not None else 40
        return int(lo + (hi - lo) * rng.random() * (0.3 + 0.7 * s))
    if c.type == "date":
        return (date.today() - timedelta(days=rng.randint(60, 3000))).isoformat()
    return rng.choice(TEXTS.get(c.key, ["-"]))


def build(store, n: int, seed: int = 7, admin: str | None = None, progress=None) -> dict:
    """Fill an empty store with n synthetic clients and two years of history."""
    rng = random.Random(seed)
    firsts, lasts = _people(n, rng, seed)
    today = date.today()
    window_start = today - timedelta(days=730)
    now_ts = utcnow()
    catalog = store.catalog
    chars = list(catalog)
    ids = store.ids
    n_coaches = max(3, n // 150)
    coach_names = sorted({f.lower().replace(" ", "") for f in firsts if f.isalpha()})
    rng.shuffle(coach_names)
    coaches = coach_names[:n_coaches]
    teams = [f"team{(i // 8) + 1}" for i in range(n_coaches)]
    wb = catalog.get("wellbeing")
    summary = {"clients": n, "coaches": n_coaches, "observations": 0, "interventions": 0, "outflow": 0}

    conn = store.conn
    with write_transaction(store.db):
        users = [(c, "coach", teams[i], now_ts) for i, c in enumerate(coaches)]
        users += [(f"teamlead{k}", "teamlead", t, now_ts) for k, t in enumerate(sorted(set(teams)), 1)]
        users += [("analist", "analyst", None, now_ts)]
        if admin and admin not in {u[0] for u in users}:
            users.append((admin, "admin", None, now_ts))
        conn.executemany("INSERT OR IGNORE INTO users (name, role, team, active, created_at) VALUES (?, ?, ?, 1, ?)",
                         users)
        profile_sql = _insert_sql("profile", [c.column for c in chars])
        times_sql = _insert_sql("profile_times", [c.at_column for c in chars])
        client_sql = ("INSERT INTO clients (id, client_number, first_name, last_name, email, phone, language,"
                      " preferred_channel, coach, intake_date, birth_date, status, outflow_type, outflow_date,"
                      " last_activity, last_reply, created_at, updated_at)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        obs_sql = ("INSERT INTO observations (client_id, characteristic_id, value, observed_at, source, author)"
                   " VALUES (?, ?, ?, ?, ?, ?)")
        iv_sql = ("INSERT INTO interventions (client_id, name, start_date, end_date, result, author, created_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?)")
        note_sql = "INSERT INTO notes (client_id, text, source, author, created_at) VALUES (?, ?, 'coach', ?, ?)"
        clients, profiles, times, obs, ivs, notes = [], [], [], [], [], []
        for i in range(1, n + 1):
            first, last = rng.choice(firsts), rng.choice(lasts)
            coach = rng.choice(coaches)
            intake = today - timedelta(days=min(int(rng.expovariate(1 / 650)) + 20, 2400))
            health = rng.random() < 0.15
            lowlit = rng.random() < 0.08
            personal = rng.random() < 0.10
            barrier = health or lowlit or personal
            s = min(max(rng.betavariate(4, 2.2) - (0.25 if barrier else 0), 0.02), 0.98)
            latent = {"physical_complaints": health, "low_literacy": lowlit,
                      "illiteracy": lowlit and rng.random() < 0.3, "personal_problems": personal}
            # Outflow and interventions, half a year at a time over the window.
            t = max(intake, window_start)
            outflow = None
            while t < today and outflow is None:
                months = (t - intake).days / 30.4
                hazard = 0.45 if months < 12 else 0.22 if months < 24 else 0.10
                if barrier:
                    hazard *= 0.05
                begin = t + timedelta(days=rng.randint(0, 30))
                if begin < today:
                    p_wf = 0.35 if months < 12 else 0.08
                    if not health and rng.random() < p_wf:
                        hazard += 0.04
                        ivs.append((i, "work-first", begin.isoformat(),
                                    min(begin + timedelta(days=90), today).isoformat() if begin + timedelta(days=90) < today else None,
                                    "completed" if begin + timedelta(days=90) < today else None, coach, now_ts))
                    elif health and rng.random() < 0.2:
                        hazard += 0.18
                        ivs.append((i, "capability_assessment", begin.isoformat(),
                                    (begin + timedelta(days=42)).isoformat() if begin + timedelta(days=42) < today else None,
                                    "completed" if begin + timedelta(days=42) < today else None, coach, now_ts))
                    elif rng.random() < 0.1:
                        hazard += 0.02
                        ivs.append((i, "cv_workshop", begin.isoformat(),
                                    (begin + timedelta(days=14)).isoformat() if begin + timedelta(days=14) < today else None,
                                    "completed" if begin + timedelta(days=14) < today else None, coach, now_ts))
                period_end = min(t + timedelta(days=182), today)
                if rng.random() < hazard * (period_end - t).days / 182:
                    outflow = t + timedelta(days=rng.randint(0, max((period_end - t).days - 1, 0)))
                t = period_end
            end = outflow or today
            quiet = outflow is None and rng.random() < 0.15
            last_contact = end - timedelta(days=rng.randint(60, 150)) if quiet else end - timedelta(days=rng.randint(0, 25))
            # Observations: wellbeing about every six weeks, the rest once or twice.
            prof, when = [i], [i]
            first_day = max(intake, window_start)
            for c in chars:
                if c is wb:
                    level = 2 + 3 * s
                    d = first_day + timedelta(days=rng.randint(0, 40))
                    v = None
                    while d <= last_contact:
                        level = min(max(level + rng.gauss(0, 0.5), 1), 5)
                        v = int(round(level))
                        ts = _ts(d, rng)
                        obs.append((i, ids[c.key], v, ts, "reply", None))
                        d += timedelta(days=rng.randint(30, 60))
                    prof.append(v)
                    when.append(ts if v is not None else None)
                    continue
                keep = 0.9 if c.key_characteristic or c.key in BARRIER_KEYS else 0.45
                if rng.random() > keep:
                    prof.append(None)
                    when.append(None)
                    continue
                v = c.to_sql(_value(c, s, rng, latent))
                span = max((last_contact - first_day).days, 1)
                d = first_day + timedelta(days=rng.randint(1, span))
                if rng.random() < 0.3:
                    earlier = c.to_sql(_value(c, s, rng, latent))
                    obs.append((i, ids[c.key], earlier, _ts(first_day, rng), "import", None))
                ts = _ts(d, rng)
                obs.append((i, ids[c.key], v, ts, "coach", coach))
                prof.append(v)
                when.append(ts)
            lang = "en" if rng.random() < 0.12 else "nl"
            channel = rng.choices(("sms", "email", "phone", "letter"), (60, 30, 7, 3))[0]
            otype = rng.choices([o for o, _ in OUTFLOW_MIX], [w for _, w in OUTFLOW_MIX])[0] if outflow else None
            birth = today - timedelta(days=rng.randint(18 * 365, 66 * 365))
            activity = _ts(last_contact, rng)
            handle = _EMAIL_UNSAFE.sub("", unicodedata.normalize("NFKD", f"{first}.{last}".lower()))
            clients.append((i, f"{100000 + i}", first, last, f"{handle}{i}@example.org",
                            f"+316{rng.choice('12345')}{rng.randint(0, 9999999):07d}", lang, channel, coach,
                            intake.isoformat(), birth.isoformat(), "outflow" if outflow else "active", otype,
                            outflow.isoformat() if outflow else None, activity, activity, now_ts, now_ts))
            profiles.append(prof)
            times.append(when)
            if rng.random() < 0.3:
                notes.append((i, rng.choice(NOTES), coach, _ts(last_contact, rng)))
            summary["outflow"] += outflow is not None
            if len(clients) >= 2000 or i == n:
                conn.executemany(client_sql, clients)
                conn.executemany(profile_sql, profiles)
                conn.executemany(times_sql, times)
                conn.executemany(obs_sql, obs)
                conn.executemany(iv_sql, ivs)
                conn.executemany(note_sql, notes)
                summary["observations"] += len(obs)
                summary["interventions"] += len(ivs)
                clients, profiles, times, obs, ivs, notes = [], [], [], [], [], []
                if progress:
                    progress(i, n)
        audit.record(store.db, access.system_actor("demo"), "demo", f"clients:{n}")
    return summary
