"""Clients who prefer phone are called, not messaged: a check-in round puts them on the call list,
broadcasts leave them out unless the coach picks a channel, and the coach records the answer."""

from click.testing import CliRunner

from caseload import access, calls, checkins, outbox, templates
from caseload.errors import BadInput
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
COACH = access.Actor("coach1", "coach")


def _store(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 1, preferred_channel="phone")  # K00001
    add_clients(store, 1, start=2, preferred_channel="email")  # K00002
    add_clients(store, 1, start=3, preferred_channel="letter")  # K00003
    add_clients(store, 1, start=4, preferred_channel="phone", coach="coach2")  # not coach1's
    return store


def test_phone_and_letter_clients_get_no_message_unless_the_coach_picks_a_channel(tmp_path):
    store = _store(tmp_path)
    templates.add_template(store, ADMIN, "tip", "sms", "Een tip.")
    templates.add_template(store, ADMIN, "tip", "email", "Een tip.", subject="Tip")
    auto = outbox.plan_queue(store, COACH, "status = active", "tip")
    assert [p.client_number for p in auto.messages] == ["K00002"]
    assert dict(auto.skipped) == {"prefers_phone": 1, "prefers_letter": 1}
    chosen = outbox.plan_queue(store, COACH, "status = active", "tip", channel="sms")
    assert [p.client_number for p in chosen.messages] == ["K00001", "K00002", "K00003"]

    r = checkins.round_now(store, COACH, "status = active")
    assert r["queued"] == 2 and r["skipped"] == {"prefers_letter": 1}
    assert store.db.execute("SELECT k.channel, COUNT(m.id) FROM checkins k LEFT JOIN checkin_questions q"
                            " ON q.checkin_id = k.id LEFT JOIN messages m ON m.id = q.message_id"
                            " GROUP BY k.channel ORDER BY k.channel").fetchall() == [("email", 1), ("phone", 0)]
    store.close()


def test_the_call_list_asks_the_check_in_questions_and_one_answer_is_one_observation(tmp_path):
    store = _store(tmp_path)
    checkins.round_now(store, COACH, "client_number = K00001", ask=["kinderopvang_geregeld"], questions=2)
    listed = calls.call_list(store, COACH)
    assert [c.client_number for c in listed] == ["K00001"]  # coach2's client is not on coach1's list
    first = listed[0]
    assert first.key == "wellbeing" and first.checkin_id is not None and len(first.options) == 5
    try:
        calls.record(store, COACH, "K00001", "zeven")
        raise AssertionError("a bad answer was recorded")
    except BadInput as e:
        assert "1 (" in e.message
    out = calls.record(store, COACH, "K00001", "4")
    assert out["characteristic"] == "wellbeing" and out["value"] == 4 and out["next"]
    assert calls.call_list(store, COACH)[0].key == "childcare_arranged"
    calls.record(store, COACH, "K00001", "1")  # the first answer on the list: ja
    rows = store.db.execute("SELECT ch.key, o.value, o.source, o.author FROM observations o"
                            " JOIN characteristics ch ON ch.id = o.characteristic_id ORDER BY ch.key").fetchall()
    assert rows == [("childcare_arranged", 1, "coach", "coach1"), ("wellbeing", 4, "coach", "coach1")]
    assert store.db.execute("SELECT status FROM checkins").fetchone() == ("answered",)
    assert calls.call_list(store, COACH)[0].key == "wellbeing"  # still prefers phone: asked again next call
    actions = [r[0] for r in store.db.execute("SELECT action FROM audit WHERE action LIKE 'call%' ORDER BY id")]
    assert actions == ["call_list", "call_answer", "call_list", "call_answer", "call_list"]
    store.close()


def test_call_list_and_record_on_the_command_line(tmp_path):
    from caseload.cli import main

    store = _store(tmp_path)
    env = {"CASELOAD_DB": str(store.path), "CASELOAD_CONFIG": str(tmp_path / "config.toml"), "SUDO_USER": "coach1",
           "SUDO_UID": "", "LANG": "en_US.UTF-8"}
    listed = CliRunner().invoke(main, ["call", "--format", "csv"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0] == ",".join(calls.COLUMNS) and "K00001" in listed.stdout
    done = CliRunner().invoke(main, ["call", "record", "K00001", "5"], env=env)
    assert done.exit_code == 0 and "wellbeing = 5" in done.stderr, done.output
    bad = CliRunner().invoke(main, ["call", "record", "K00004", "5"], env=env)  # coach2's client
    assert bad.exit_code == 2, bad.output
    store.close()


import pytest  # noqa: E402


@pytest.mark.anyio
async def test_l_on_the_attention_list_opens_the_call_list_and_a_digit_records_the_answer(tmp_path):
    from caseload.tui.app import build_app
    from caseload.tui.screens.calls import CallsScreen
    from tui_fixture import settle

    store = _store(tmp_path)
    app = build_app(store, access.resolve_actor(store.db, "coach1", interface="tui"), lang="nl", start="attention")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, CallsScreen)
        assert list(app.screen.calls) == ["K00001"] and app.screen.calls["K00001"].question.startswith("Hoe gaat")
        await pilot.press("4")
        await settle(pilot)
        await app.workers.wait_for_complete()
        await settle(pilot)
    assert store.db.execute("SELECT value, source, author FROM observations").fetchall() == [(4, "coach", "coach1")]
    store.close()
