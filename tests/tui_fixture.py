"""A small deterministic caseload for the TUI tests and snapshots: the demo caseload built with
the wall clock frozen at NOW (time-machine; monotonic clocks keep running, so Textual's timers
work), plus planted data: a client whose name and notes hold markup, a reply, a template, a
campaign with a failed message, a saved segment. Built once per test process and copied."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import time_machine

from caseload import access, clients, demo, interventions, outbox, segments, templates
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


def _build(path: Path) -> None:
    with frozen(tick=False):
        store = open_store(load_config(None), path, create=True)
        demo.build(store, 300, seed=11, admin="admin")
        coach, team = store.db.execute("SELECT name, team FROM users WHERE role = 'coach' ORDER BY name").fetchone()
        store.db.execute("INSERT INTO users (name, role, team, active, created_at) VALUES ('lead', 'teamlead', ?, 1, ?)",
                         [team, "2026-01-01T00:00:00Z"])
        admin = access.Actor("admin", "admin")
        clients.add_client(store, admin, {"client_number": MARKUP_NUMBER, "first_name": MARKUP_FIRST,
                                          "last_name": MARKUP_LAST, "coach": coach, "phone": "0612345678",
                                          "preferred_channel": "sms", "language": "nl", "intake_date": "2025-01-06"})
        for day, value in (("2025-12-01", 4), ("2026-01-12", 3), ("2026-02-23", 1)):
            clients.set_characteristics(store, admin, MARKUP_NUMBER, {"wellbeing": str(value), "debts": "ja"},
                                        observed_at=f"{day}T10:00:00Z")
        clients.add_note(store, admin, MARKUP_NUMBER, MARKUP_NOTE)
        clients.add_note(store, admin, MARKUP_NUMBER, MARKUP_REPLY, source="reply")
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


async def settle(pilot, rounds: int = 6) -> None:
    """Wait until no worker runs and the messages they posted are handled."""
    app = pilot.app
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        if not any(w.is_running for w in app.workers):
            await pilot.pause(0.05)
            if not any(w.is_running for w in app.workers):
                return
