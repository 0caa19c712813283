"""One writer makes every message row (caseload.outbox.queue.write): the same text queued by
`caseload queue`, the TUI's compose and a scheduled campaign gets tracked links in all three,
and each path sets the message's priority (personal before broadcast)."""

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from textual.widgets import Input, Select

from caseload import access, campaigns, checkins, links, outbox, templates
from caseload.cli import main
from caseload.tui.app import build_app
from caseload.tui.screens.compose import ComposeScreen
from caseload.tui.screens.confirm import ConfirmScreen
from caseload.tui.widgets.filter_bar import FilterBar
from servers import add_clients, make_store
from tui_fixture import settle

BASE = "https://caseload.example.org"
URL = "https://werk.example/vacature?id=1"
NOON = datetime(2025, 6, 16, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "writer-test-secret")
    s = make_store(tmp_path, daemon={"public_url": BASE})
    add_clients(s, 6, preferred_channel="sms")
    templates.add_template(s, access.Actor("admin", "admin"), "vacature", "sms", f"Kijk eens: {URL} (groet, je coach)")
    yield s
    s.close()


def tracked(store, campaign: str) -> list[tuple[int, str]]:
    """(priority, target) of each message of the campaign, read back from its tracked link."""
    key = links.link_key()
    out = []
    for body, token, priority in store.db.execute(
            "SELECT m.body, m.token, m.priority FROM messages m JOIN campaigns c ON c.id = m.campaign_id"
            " WHERE c.name = ? ORDER BY m.id", [campaign]):
        assert URL not in body, body  # the bare URL never goes out
        signed = body.split(f"{BASE}/l/", 1)[1].split()[0]
        message_token, target = links.read_tracked(key, signed)
        assert message_token == token
        out.append((priority, target))
    return out


@pytest.mark.anyio
async def test_queue_compose_and_campaign_all_track_links(tmp_path, store):
    # caseload queue --client: a coach's message to one client is personal
    cli = ["--db", str(store.path), "--config", str(tmp_path / "config.toml"), "--lang", "en", "queue",
           "--template", "vacature", "--yes"]
    r = CliRunner().invoke(main, [*cli, "--client", "K00001", "--campaign", "by queue"], env={"SUDO_USER": "admin"})
    assert r.exit_code == 0, r.output
    assert tracked(store, "by queue") == [(outbox.PERSONAL, URL)]
    # a segment that happens to match one client is still a broadcast
    r = CliRunner().invoke(main, [*cli, "--segment", "client_number = K00006", "--campaign", "by segment"],
                           env={"SUDO_USER": "admin"})
    assert r.exit_code == 0, r.output
    assert tracked(store, "by segment") == [(outbox.BROADCAST, URL)]

    # the TUI's compose, driven as a coach does: segment, template, campaign, F8, yes
    app = build_app(store, access.resolve_actor(store.db, "coach1", interface="tui"), lang="en", start="compose")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        screen.query_one(FilterBar).value = "client_number = K00002 or client_number = K00003"
        screen.query_one("#template", Select).value = "vacature"
        screen.query_one("#campaign", Input).value = "by compose"
        await settle(pilot)
        screen.action_preview()
        await settle(pilot)
        assert screen.plan is not None and screen.plan.count == 2
        await pilot.press("f8")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")
        await settle(pilot)
    assert tracked(store, "by compose") == [(outbox.BROADCAST, URL)] * 2

    # a scheduled campaign, queued by the daemon's job
    admin = access.Actor("admin", "admin")
    campaigns.add(store, admin, "by campaign", "vacature", "client_number = K00004 or client_number = K00005",
                  once="2025-06-16 14:00", now=NOON)
    assert campaigns.run_due(store, now=NOON + timedelta(hours=3))["queued"] == 2
    assert tracked(store, "by campaign") == [(outbox.BROADCAST, URL)] * 2


def test_check_ins_and_system_messages_are_personal_and_keep_our_own_links(store):
    admin = access.Actor("admin", "admin")
    store.db.execute("UPDATE clients SET preferred_channel = 'email'")
    done = checkins.round_now(store, admin, "status = active", NOON, questions=2, ask="debts")
    assert done["queued"] == 6
    rows = store.db.execute("SELECT kind, priority, body FROM messages ORDER BY id").fetchall()
    assert {(kind, priority) for kind, priority, _ in rows} == {("checkin", outbox.PERSONAL)}
    # one-tap answers are links of ours already: they stay as they are, not wrapped in a tracked link
    assert all(f"{BASE}/a/" in body and f"{BASE}/l/" not in body for _, _, body in rows)
    q = outbox.enqueue(store, 6, "sms", "Je bent afgemeld", kind="system", now=NOON)
    assert store.db.execute("SELECT priority FROM messages WHERE id = ?", [q.id]).fetchone() == (outbox.PERSONAL,)


def test_the_writer_runs_inside_a_transaction_and_never_reuses_ids(store):
    first = outbox.enqueue(store, 1, "sms", "een", kind="campaign", occurrence="a", now=NOON)
    store.db.execute("DELETE FROM message_events")
    store.db.execute("DELETE FROM messages")
    store.db.conn.commit()
    again = outbox.enqueue(store, 1, "sms", "twee", kind="campaign", occurrence="a", now=NOON)
    assert again.id > first.id  # an id a provider's report names is never given to another message
    with pytest.raises(RuntimeError):
        outbox.write(store.db.conn, store, [outbox.Message(1, "sms", "drie")], kind="campaign", now=NOON)
