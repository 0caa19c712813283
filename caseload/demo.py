"""A realistic synthetic caseload for trying caseload out, and for the benchmarks.

Outflow depends on characteristics the way practice reports it: about 20% in a half year on
average, near 0% with physical complaints, illiteracy or personal problems, and high in the
first year in bijstand whether or not the client does work-first (which adds a little).

The last half year has a history of messages, so every screen has something to show: check-in
questions answered by SMS or email, two campaigns with tracked links (some clicked, a few
failed), free-text replies (most read and answered by the coach with a one-off message, a few
unread, some of them urgent), and follow-ups (open, due, done). Nothing happens before a
client's intake or after their outflow; about one client in twenty has gone quiet.
"""

import random
import re
import unicodedata
from datetime import date, timedelta

from datetime import datetime, timezone
from secrets import token_hex

from . import access, audit, coaches as coach_periods
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
HISTORY_DAYS = 180  # the message history covers the last half year
CHECKIN = {"nl": "Hoi {first}, hoe gaat het met je? Antwoord met een cijfer van 1 (slecht) tot 5 (goed).",
           "en": "Hi {first}, how are you doing? Reply with a number from 1 (bad) to 5 (good)."}
CAMPAIGNS = [  # name, template, days ago it went out, share of active clients, body
    ("Banenmarkt", "banenmarkt", 40, 0.35,
     {"nl": "Hoi {first}, op 12 maart is de banenmarkt in het stadhuis. Meer weten: https://werkplein.example/banenmarkt",
      "en": "Hi {first}, the job fair is on 12 March at the town hall. More: https://werkplein.example/banenmarkt"}),
    ("Workshop sollicitatiebrief", "workshop", 12, 0.25,
     {"nl": "Hoi {first}, wil je leren solliciteren? Schrijf je in: https://werkplein.example/workshop",
      "en": "Hi {first}, want to practise applying for jobs? Sign up: https://werkplein.example/workshop"}),
]
FREE_TEXT = {
    "nl": ["Ik kan donderdag niet, mag het vrijdag?", "Dank je wel voor de tip!", "Ik heb de cursus gehaald :)",
           "Mijn telefoonnummer verandert volgende week.", "Wanneer is de volgende afspraak?",
           "Ik heb gesolliciteerd bij de bakker.", "Het gaat iets beter, de kinderen zijn weer naar school."],
    "en": ["I can't make Thursday, is Friday okay?", "Thanks for the tip!", "When is our next appointment?",
           "I applied at the supermarket.", "My phone number changes next week."],
}
URGENT_TEXT = {
    "nl": ["Ik ben ziek en mijn huur is niet betaald, kan iemand bellen?", "Er staat een deurwaarder voor de deur, help",
           "Kunt u mij dringend bellen? Het gaat niet goed."],
    "en": ["I am sick and cannot pay the rent, can someone call me?", "Please call me, it is urgent."],
}
COACH_REPLY = {"nl": ["Dank je, ik zet het in je dossier.", "Vrijdag om 10 uur kan ook, tot dan!",
                      "Goed om te horen, zet hem op!", "Ik bel je morgen even."],
               "en": ["Thanks, noted.", "Friday at 10 works too, see you then!", "Good to hear, well done!"]}
FOLLOW_UPS = ["Terugbellen over de cursus", "Cv samen nakijken", "Vragen hoe het gesprek ging",
              "Formulier bijzondere bijstand nabellen", "Kinderopvang regelen: aanvraag checken",
              "Afspraak schuldhulpverlening bevestigen"]

_EMAIL_UNSAFE = re.compile(r"[^a-z0-9.-]")  # a last name such as "Werl-Arnsberg, van" has a comma


STREETS = ("Dorpsstraat", "Kerkweg", "Molenlaan", "Stationsplein", "Beukenlaan", "Schoolstraat", "Havenkade",
           "Prinses Irenestraat")


def _address(i: int) -> tuple[str, str, str]:
    """A made-up postal address for demo client i (not from the random stream: the rest of the
    demo stays as it was)."""
    letters = chr(65 + i % 26) + chr(65 + (i // 26) % 26)
    return f"{STREETS[i % len(STREETS)]} {i % 137 + 1}", f"{1000 + (i * 37) % 9000} {letters}", "Demodorp"


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
    # A coach of the first team left 200 days ago; a team lead handed all their clients to the team.
    # Drawn from a generator of its own, so the rest of the demo is the same with or without it.
    moves = random.Random(seed * 1000 + 28)
    former = coach_names[n_coaches] if len(coach_names) > n_coaches else f"coach{n_coaches + 1}"
    team_one = [c for c, team in zip(coaches, teams) if team == teams[0]]
    left = today - timedelta(days=200)
    left_ts = _iso(_at(left, moves, 9, 11))
    summary["reassigned"] = 0

    conn = store.conn
    with write_transaction(store.db):
        users = [(c, "coach", teams[i], now_ts) for i, c in enumerate(coaches)]
        users += [(f"teamlead{k}", "teamlead", t, now_ts) for k, t in enumerate(sorted(set(teams)), 1)]
        users += [("analist", "analyst", None, now_ts)]
        if admin and admin not in {u[0] for u in users}:
            users.append((admin, "admin", None, now_ts))
        conn.executemany("INSERT OR IGNORE INTO users (name, role, team, active, created_at) VALUES (?, ?, ?, 1, ?)",
                         users)
        conn.execute("INSERT OR IGNORE INTO users (name, role, team, active, created_at) VALUES (?, 'coach', ?, 0, ?)",
                     [former, teams[0], now_ts])
        profile_sql = _insert_sql("profile", [c.column for c in chars])
        times_sql = _insert_sql("profile_times", [c.at_column for c in chars])
        client_sql = ("INSERT INTO clients (id, client_number, first_name, last_name, email, phone, language,"
                      " preferred_channel, coach, intake_date, birth_date, status, outflow_type, outflow_date,"
                      " last_activity, last_reply, created_at, updated_at, address, postal_code, city)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        obs_sql = ("INSERT INTO observations (client_id, characteristic_id, value, observed_at, source, author)"
                   " VALUES (?, ?, ?, ?, ?, ?)")
        iv_sql = ("INSERT INTO interventions (client_id, name, start_date, end_date, result, author, created_at)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?)")
        note_sql = "INSERT INTO notes (client_id, text, source, author, created_at) VALUES (?, ?, 'coach', ?, ?)"
        clients, profiles, times, obs, ivs, notes, periods = [], [], [], [], [], [], []
        story = _History(conn, rng, today, now_ts, coaches)
        for i in range(1, n + 1):
            first, last = rng.choice(firsts), rng.choice(lasts)
            coach = rng.choice(coaches)
            intake = today - timedelta(days=min(int(rng.expovariate(1 / 650)) + 20, 2400))
            # handed over with all their clients (`client reassign --from`), also those who had left
            moved = coach in team_one and intake < left and moves.random() < 1 / (len(team_one) + 1)
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
                    by = former if moved and begin < left else coach
                    p_wf = 0.35 if months < 12 else 0.08
                    if not health and rng.random() < p_wf:
                        hazard += 0.04
                        ivs.append((i, "work-first", begin.isoformat(),
                                    min(begin + timedelta(days=90), today).isoformat() if begin + timedelta(days=90) < today else None,
                                    "completed" if begin + timedelta(days=90) < today else None, by, now_ts))
                    elif health and rng.random() < 0.2:
                        hazard += 0.18
                        ivs.append((i, "capability_assessment", begin.isoformat(),
                                    (begin + timedelta(days=42)).isoformat() if begin + timedelta(days=42) < today else None,
                                    "completed" if begin + timedelta(days=42) < today else None, by, now_ts))
                    elif rng.random() < 0.1:
                        hazard += 0.02
                        ivs.append((i, "cv_workshop", begin.isoformat(),
                                    (begin + timedelta(days=14)).isoformat() if begin + timedelta(days=14) < today else None,
                                    "completed" if begin + timedelta(days=14) < today else None, by, now_ts))
                period_end = min(t + timedelta(days=182), today)
                if rng.random() < hazard * (period_end - t).days / 182:
                    outflow = t + timedelta(days=rng.randint(0, max((period_end - t).days - 1, 0)))
                t = period_end
            end = outflow or today
            quiet = outflow is None and rng.random() < 0.04
            last_contact = end - timedelta(days=rng.randint(45, 150)) if quiet else end - timedelta(days=rng.randint(0, 20))
            last_contact = min(max(last_contact, intake + timedelta(days=1)), end)  # nothing before intake
            # Observations: wellbeing about every six weeks, the rest once or twice.
            prof, when = [i], [i]
            answers = []  # (moment, value) of the wellbeing check-ins the client answered
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
                        obs.append((i, ids[c.key], v, ts, "reply", "client"))
                        answers.append((ts, v))
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
                obs.append((i, ids[c.key], v, ts, "coach", former if moved and ts < left_ts else coach))
                prof.append(v)
                when.append(ts)
            lang = "en" if rng.random() < 0.12 else "nl"
            channel = rng.choices(("sms", "email", "phone", "letter"), (60, 30, 7, 3))[0]
            otype = rng.choices([o for o, _ in OUTFLOW_MIX], [w for _, w in OUTFLOW_MIX])[0] if outflow else None
            birth = today - timedelta(days=rng.randint(18 * 365, 66 * 365))
            activity = _ts(last_contact, rng)
            if outflow is None or outflow > today - timedelta(days=HISTORY_DAYS):
                activity = story.client(i, first, coach, lang, channel, intake, outflow, last_contact, answers,
                                        outflow is None and not quiet, activity)
            handle = _EMAIL_UNSAFE.sub("", unicodedata.normalize("NFKD", f"{first}.{last}".lower()))
            clients.append((i, f"{100000 + i}", first, last, f"{handle}{i}@example.org",
                            f"+316{rng.choice('12345')}{rng.randint(0, 9999999):07d}", lang, channel, coach,
                            intake.isoformat(), birth.isoformat(), "outflow" if outflow else "active", otype,
                            outflow.isoformat() if outflow else None, activity, activity, now_ts, now_ts,
                            *_address(i)))
            since = intake.isoformat() + "T00:00:00Z"
            if moved:
                periods += [(i, former, since, left_ts, None), (i, coach, left_ts, None, "teamlead1")]
                summary["reassigned"] += 1
            else:
                periods.append((i, coach, since, None, None))
            profiles.append(prof)
            times.append(when)
            if rng.random() < 0.3:
                text, at = rng.choice(NOTES), _ts(last_contact, rng)
                notes.append((i, text, former if moved and at < left_ts else coach, at))
            summary["outflow"] += outflow is not None
            if len(clients) >= 2000 or i == n:
                conn.executemany(client_sql, clients)
                conn.executemany(profile_sql, profiles)
                conn.executemany(times_sql, times)
                conn.executemany(obs_sql, obs)
                conn.executemany(iv_sql, ivs)
                conn.executemany(note_sql, notes)
                coach_periods.insert_history(conn, periods)
                story.flush(conn)
                summary["observations"] += len(obs)
                summary["interventions"] += len(ivs)
                clients, profiles, times, obs, ivs, notes, periods = [], [], [], [], [], [], []
                if progress:
                    progress(i, n)
        summary.update(story.summary())
        audit.record(store.db, access.system_actor("demo"), "demo", f"clients:{n}")
    return summary


def _at(d: date, rng: random.Random, lo: int = 8, hi: int = 19) -> datetime:
    return datetime(d.year, d.month, d.day, rng.randint(lo, hi), rng.randint(0, 59), tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _History:
    """The last half year of messages, replies, clicks and follow-ups, client by client; rows
    are written with the clients (`flush`)."""

    MESSAGE = ("INSERT INTO messages (id, campaign_id, client_id, kind, channel, language, template, subject, body,"
               " token, status, reason, priority, due_at, attempts, sent_at, delivered_at, author, created_at,"
               " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    REPLY = ("INSERT INTO replies (client_id, channel, provider, provider_id, message_id, text, outcome, received_at,"
             " read_at, read_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    CLICK = "INSERT INTO clicks (message_id, client_id, kind, at) VALUES (?, ?, 'link', ?)"
    NOTE = "INSERT INTO notes (client_id, text, source, author, created_at) VALUES (?, ?, 'reply', 'client', ?)"
    FOLLOW_UP = ("INSERT INTO follow_ups (client_id, what, due_date, assignee, author, created_at, done_at, done_by)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")

    def __init__(self, conn, rng: random.Random, today: date, now_ts: str, coaches: list[str]):
        self.rng, self.today, self.now = rng, today, datetime.now(timezone.utc)
        self.start = today - timedelta(days=HISTORY_DAYS)
        self.next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0] or 0) + 1
        self.rows = {k: [] for k in ("messages", "replies", "clicks", "notes", "follow_ups")}
        self.counts = dict.fromkeys(self.rows, 0)
        self.campaigns = []
        for name, template, days, share, bodies in CAMPAIGNS:
            for lang, body in bodies.items():  # the campaign's template, so compose has something to start from
                body = body.replace("{first}", "{{ first_name }}")
                for channel, subject in (("sms", None), ("email", name)):
                    conn.execute("INSERT INTO templates (name, channel, language, subject, body, owner, author,"
                                 " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [template, channel, lang, subject, body, coaches[0], coaches[0], now_ts, now_ts])
            sent = today - timedelta(days=days)
            cid = conn.execute("INSERT INTO campaigns (name, template, segment, channel, owner, author, created_at,"
                               " updated_at) VALUES (?, ?, 'status = active', 'auto', ?, ?, ?, ?)",
                               [f"{name} {sent.isoformat()}", template, coaches[0], coaches[0], now_ts, now_ts]
                               ).lastrowid
            self.campaigns.append((cid, template, sent, share, bodies))

    def _message(self, cid, kind, channel, lang, body, at: datetime, campaign=None, template=None, status="sent",
                 reason=None, author=None, subject=None) -> int:
        mid = self.next_id
        self.next_id += 1
        if channel == "email" and subject is None:
            subject = "Bericht van het Werkplein" if lang == "nl" else "A message from the Werkplein"
        sent = _iso(at) if status in ("sent", "delivered") else None
        self.rows["messages"].append((
            mid, campaign, cid, kind, channel, lang, template, subject, body, token_hex(12), status, reason,
            0 if kind != "campaign" or campaign is None else 1, _iso(at), 1, sent,
            _iso(at + timedelta(seconds=20)) if status == "delivered" else None, author, _iso(at), _iso(at)))
        return mid

    def client(self, cid, first, coach, lang, channel, intake, outflow, last_contact, answers, active,
               activity: str) -> str:
        """One client's history; returns their last activity (a reply or a click may be later)."""
        rng, start = self.rng, max(self.start, intake + timedelta(days=1))
        end = outflow or self.today
        by = "email" if channel == "email" else "sms"
        last = activity
        for ts, value in answers:  # each answered check-in: the question, then the answer
            day = date.fromisoformat(ts[:10])
            if day < start:
                continue
            answered = datetime.fromisoformat(ts.replace("Z", "+00:00"))
            asked = answered - timedelta(minutes=rng.randint(5, 180))
            if asked.date() < start:
                continue
            mid = self._message(cid, "checkin", by, lang, CHECKIN[lang].format(first=first), asked,
                                status="delivered" if by == "sms" else "sent")
            self.rows["replies"].append((cid, by, "cm" if by == "sms" else "email", f"demo-{mid}", mid, str(value),
                                         "observation", ts, ts, None))
        for camp, template, sent, share, bodies in self.campaigns:
            if sent < start or sent > end or rng.random() > share:
                continue
            at = _at(sent, rng, 9, 10)
            failed = rng.random() < 0.02
            mid = self._message(cid, "campaign", by, lang, bodies[lang].format(first=first), at, campaign=camp,
                                template=template, status="failed" if failed else "sent",
                                reason=("bad_address" if by == "sms" else "bounced") if failed else None)
            click = at + timedelta(hours=rng.randint(1, 30))
            if not failed and rng.random() < 0.2 and click.date() <= min(last_contact, self.today) \
                    and click < self.now:
                self.rows["clicks"].append((mid, cid, _iso(click)))
                last = max(last, _iso(click))
        if not active:
            return last
        if last_contact >= start and rng.random() < 0.14:  # a free-text reply, read and answered by the coach
            day = start + timedelta(days=rng.randint(0, max((last_contact - start).days, 0)))
            if day >= start:
                at = _at(day, rng, 7, 20)
                self._free_text(cid, by, rng.choice(FREE_TEXT[lang]), at, read=True)
                answer = at + timedelta(hours=rng.randint(1, 20))
                if answer < self.now:
                    self._message(cid, "campaign", by, lang, rng.choice(COACH_REPLY[lang]), answer, author=coach)
                last = max(last, _iso(at))
        roll = rng.random()
        if roll < 0.025:  # unread: arrived in the last days; one in five urgent
            at = self.now - timedelta(hours=rng.randint(2, 70))
            if at.date() > intake:
                texts = URGENT_TEXT if roll < 0.005 else FREE_TEXT
                self._free_text(cid, by, rng.choice(texts[lang]), at, read=False)
                last = max(last, _iso(at))
        roll = rng.random()
        if roll < 0.08:  # follow-ups: open (a few due), or done
            made = max(self.today - timedelta(days=rng.randint(1, 20)), intake + timedelta(days=1))
            due = made + timedelta(days=rng.randint(2, 28))
            done = due <= self.today - timedelta(days=2) or roll < 0.03
            created = _iso(_at(made, rng))
            self.rows["follow_ups"].append((
                cid, rng.choice(FOLLOW_UPS), due.isoformat(), coach, coach, created,
                max(_iso(_at(min(due, self.today), rng)), created) if done else None, coach if done else None))
        return last

    def _free_text(self, cid, channel, text, at: datetime, read: bool) -> None:
        moment = _iso(at)
        self.rows["replies"].append((cid, channel, "cm" if channel == "sms" else "email",
                                     f"demo-t{self.rng.getrandbits(48)}", None, text, "note", moment,
                                     moment if read else None, None))
        self.rows["notes"].append((cid, text, moment))

    def flush(self, conn) -> None:
        for table, sql in (("messages", self.MESSAGE), ("replies", self.REPLY), ("clicks", self.CLICK),
                           ("notes", self.NOTE), ("follow_ups", self.FOLLOW_UP)):
            if self.rows[table]:
                conn.executemany(sql, self.rows[table])
                self.counts[table] += len(self.rows[table])
                self.rows[table] = []

    def summary(self) -> dict:
        return {"messages": self.counts["messages"], "replies": self.counts["replies"],
                "clicks": self.counts["clicks"], "follow_ups": self.counts["follow_ups"]}
