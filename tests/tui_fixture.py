"""A small deterministic caseload for the TUI tests and snapshots, built with the wall clock
frozen at NOW (time-machine; monotonic clocks keep running, so Textual's timers work): 72
clients of three coaches with two years of history, plus planted data: a client whose name and
notes hold markup, a reply, a template, a campaign with a failed message, a saved segment.
Built once per test process and copied. No set or dict order decides anything, so every
process builds the same database."""

import random
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import time_machine

from caseload import access, clients, interventions, outbox, segments, templates
from caseload.config import load_config
from caseload.db import write_transaction
from caseload.store import open_store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Amsterdam
MARKUP_FIRST = "[bold]Evil[/]"
MARKUP_LAST = "Markup [/] [red]"
MARKUP_NOTE = "Zei: [red]alarm[/] en [link=http://x]klik[/link]"
MARKUP_REPLY = "[b]ja[/b] het gaat [/]"
MARKUP_NUMBER = "999001"
_BUILT: dict[str, Path] = {}


def frozen(tick: bool = True):
    return time_machine.travel(NOW, tick=tick)


FIRST = ["Anouk", "Bram", "Chantal", "Dewi", "Emre", "Fleur", "Gijs", "Hatice", "Ivo", "Jasmijn", "Karim", "Lotte",
         "Milan", "Noor", "Omar", "Petra", "Quinten", "Rosa", "Sem", "Tamara"]
LAST = ["de Vries", "Jansen", "Bakker", "El Amrani", "Öztürk", "Visser", "Smit", "Mulder", "de Boer", "Yılmaz",
        "van Dijk", "Kok"]
COACHES = (("anna", "team1"), ("bram", "team1"), ("dirk", "team2"))
KEYS = ("debts", "childcare_arranged", "participation_ladder", "physical_complaints", "transport")


def _people(store) -> None:
    """72 clients with two years of history, all dated before NOW; the same on every machine."""
    rng = random.Random(20260302)
    admin = access.Actor("admin", "admin")
    with write_transaction(store.db) as conn:
        for name, team in COACHES:
            access.add_user(conn, name, "coach", team)
        access.add_user(conn, "lead", "teamlead", "team1")
        access.add_user(conn, "ana", "analyst")
    for i in range(72):
        coach = COACHES[i % 3][0]
        number = str(100001 + i)
        intake = date(2024, 1, 8) + timedelta(days=rng.randint(0, 600))
        clients.add_client(store, admin, {
            "client_number": number, "first_name": FIRST[i % len(FIRST)], "last_name": LAST[(i * 7) % len(LAST)],
            "coach": coach, "phone": f"06{rng.randint(10000000, 59999999)}" if i % 9 else "",
            "email": f"klant{i}@example.org", "preferred_channel": "email" if i % 4 == 0 else "sms",
            "language": "en" if i % 10 == 0 else "nl", "intake_date": intake.isoformat()})
        day = max(intake, date(2025, 3, 1))
        level = rng.randint(1, 5)
        while day < date(2026, 2, 28) - timedelta(days=30 * (i % 4)):
            level = min(5, max(1, level + rng.choice((-2, -1, 0, 0, 1))))
            clients.set_characteristics(store, admin, number, {"wellbeing": str(level)},
                                        observed_at=f"{day.isoformat()}T09:{i % 60:02d}:00Z", source="reply")
            day += timedelta(days=rng.randint(25, 70))
        values = {"debts": rng.choice(("ja", "nee")), "childcare_arranged": rng.choice(("ja", "nee", "nee")),
                  "participation_ladder": str(rng.randint(1, 6)), "physical_complaints": rng.choice(("ja", "nee", "nee")),
                  "transport": rng.choice(store.catalog["transport"].values)}
        seen = date(2025, 6, 2) + timedelta(days=rng.randint(0, 250))
        clients.set_characteristics(store, admin, number, values, observed_at=f"{seen.isoformat()}T11:00:00Z")
        if i % 3 == 1:
            interventions.start(store, admin, number, "work-first", (intake + timedelta(days=40)).isoformat())
        if i % 5 == 2:
            clients.record_outflow(store, admin, number, ("fulltime", "parttime", "education")[i % 3],
                                   (intake + timedelta(days=200 + i)).isoformat())
        with write_transaction(store.db) as conn:
            conn.execute("UPDATE clients SET last_activity = ? WHERE client_number = ?",
                         [f"{(date(2026, 2, 27) - timedelta(days=(i * 11) % 150)).isoformat()}T10:00:00Z", number])


def _build(path: Path) -> None:
    with frozen(tick=False):
        store = open_store(load_config(None), path, create=True)
        access.add_user(store.db, "admin", "admin")
        _people(store)
        coach = "anna"
        admin = access.Actor("admin", "admin")
        clients.add_client(store, admin, {"client_number": MARKUP_NUMBER, "first_name": MARKUP_FIRST,
                                          "last_name": MARKUP_LAST, "coach": coach, "phone": "0612345678",
                                          "preferred_channel": "sms", "language": "nl", "intake_date": "2025-01-06"})
        for day, value in (("2025-12-01", 4), ("2026-01-12", 3), ("2026-02-23", 1)):
            clients.set_characteristics(store, admin, MARKUP_NUMBER, {"wellbeing": str(value), "debts": "ja"},
                                        observed_at=f"{day}T10:00:00Z")
        clients.add_note(store, admin, MARKUP_NUMBER, MARKUP_NOTE)
        with write_transaction(store.db) as conn:  # an SMS reply not understood, as replies.handle_sms keeps it
            (cid,) = conn.execute("SELECT id FROM clients WHERE client_number = ?", [MARKUP_NUMBER]).fetchone()
            conn.execute("INSERT INTO replies (client_id, channel, provider, provider_id, text, outcome, received_at)"
                         " VALUES (?, 'sms', 'cm', 'fixture1', ?, 'note', '2026-03-01T09:00:00Z')", [cid, MARKUP_REPLY])
            conn.execute("INSERT INTO notes (client_id, text, source, author, created_at)"
                         " VALUES (?, ?, 'reply', 'client', '2026-03-01T09:00:00Z')", [cid, MARKUP_REPLY])
        interventions.start(store, admin, MARKUP_NUMBER, "work-first", "2026-02-02")
        templates.add_template(store, admin, "checkin", "sms",
                               "Hoi {{ first_name }}, hoe gaat het met je? Antwoord met 1 t/m 5. {{ organisation }}",
                               language="nl")
        templates.add_template(store, admin, "checkin", "sms",
                               "Hi {{ first_name }}, how are you? Reply 1 to 5. {{ organisation }}", language="en")
        segments.save(store, admin, "Laag welzijn", "wellbeing <= 2", "Wie het zwaar heeft")
        plan = outbox.plan_queue(store, admin, "wellbeing = 1", "checkin", campaign="Februari check-in", now=NOW)
        outbox.commit_queue(store, admin, plan, now=NOW)
        with write_transaction(store.db) as conn:  # a send run's outcome, as the daemon would leave it
            ids = [r[0] for r in conn.execute("SELECT id FROM messages ORDER BY id LIMIT 3")]
            conn.execute("UPDATE messages SET status = 'failed', reason = 'no_address', updated_at = ? WHERE id = ?",
                         ["2026-03-02T08:30:00Z", ids[0]])
            conn.execute("UPDATE messages SET status = 'sent', sent_at = ?, updated_at = ? WHERE id = ?",
                         ["2026-03-02T08:31:00Z", "2026-03-02T08:31:00Z", ids[1]])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()


def database(tmp_path: Path) -> Path:
    """A fresh copy of the test caseload in tmp_path."""
    if "db" not in _BUILT:
        base = Path(tmp_path.parent) / "tui-base.db"
        if not base.exists():
            _build(base)
        _BUILT["db"] = base
    target = tmp_path / "caseload.db"
    shutil.copy(_BUILT["db"], target)
    target.chmod(0o600)
    return target


def coach_of_markup_client(store) -> str:
    return store.db.execute("SELECT coach FROM clients WHERE client_number = ?", [MARKUP_NUMBER]).fetchone()[0]


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text."""
    update = app.screen._compositor.render_update(full=True)
    return "\n".join("".join(seg.text for seg in strip) for strip in update.strips)


async def settle(pilot, rounds: int = 8) -> None:
    """Wait until no worker runs, the messages they posted are handled, and the caseload has
    reloaded after typing paused."""
    app = pilot.app

    def busy() -> bool:
        return any(w.is_running for w in app.workers) or getattr(app.screen, "_reload", None) is not None

    for _ in range(rounds):
        while getattr(app.screen, "_reload", None) is not None:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if not busy():
            await pilot.pause(0.05)
            if not busy():
                return
