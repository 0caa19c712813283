"""Offers: items, who may be offered what (conditions, validity, languages, repeats), digests
within the policies (cap, quiet hours, opt-out), the item links' two steps, and the reasons."""

import os
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, clients, items, offers, policy, segments
from caseload.daemon.webhooks import Endpoint
from caseload.errors import BadInput
from caseload.links import link_key, read_link
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
NOW = datetime(2025, 6, 17, 10, 0, tzinfo=timezone.utc)  # a Tuesday, noon in Amsterdam
SECRET = "offers-test-secret"

ITEMS = [
    # key, kind, title, tags, requires, valid_from, valid_until, language
    ("zorg1", "vacancy", "Zorgmedewerker", "zorg, parttime", "", "", "", "nl"),
    ("auto1", "vacancy", "Chauffeur", "logistiek", "transport = car", "", "", "nl"),
    ("cv1", "tip", "Cv-workshop", "cv", "has_cv = false", "", "", "nl"),
    ("old1", "news", "Banenmarkt 2024", "banenmarkt", "", "", "2025-06-16", "nl"),
    ("new1", "activity", "Zomerschool", "leren", "", "2025-06-18", "", "nl"),
    ("en1", "tip", "English course", "leren", "", "", "", "en"),
    ("tr1", "activity", "Kahvaltı", "sociaal", "", "", "", "tr"),
    ("bouw1", "vacancy", "Bouwhulp", "bouw", "", "", "", "nl"),
]


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", SECRET)


def load_items(store, rows=ITEMS):
    for key, kind, title, tags, requires, vf, vu, lang in rows:
        items.add(store, ADMIN, {"key": key, "kind": kind, "title": title, "url": f"https://werk.example/{key}",
                                 "tags": tags, "requires": requires, "valid_from": vf, "valid_until": vu,
                                 "language": lang, "text": f"Over {title}"})


def world(tmp_path, **policy_keys):
    store = make_store(tmp_path, **policy_keys)
    add_clients(store, 12)
    profiles = {
        "K00001": {"transport": "car", "has_cv": "nee", "interests": "zorg"},
        "K00002": {"transport": "bicycle", "has_cv": "ja", "interests": "bouw, sport"},
        "K00003": {"transport": "car", "has_cv": "ja"},
        "K00004": {"has_cv": "nee", "desired_sector": "care"},
    }
    for number, values in profiles.items():
        clients.set_characteristics(store, ADMIN, number, values)
    store.db.execute("UPDATE clients SET language = 'en' WHERE client_number = 'K00005'")
    store.db.execute("UPDATE clients SET language = NULL WHERE client_number = 'K00006'")
    store.db.execute("UPDATE clients SET preferred_channel = 'sms' WHERE client_number IN ('K00007', 'K00008')")
    load_items(store)
    return store


def offered(store, digest_id=None):
    sql = ("SELECT c.client_number, i.key FROM offers o JOIN clients c ON c.id = o.client_id"
           " JOIN items i ON i.id = o.item_id")
    args = []
    if digest_id is not None:
        sql += " WHERE o.digest_id = ?"
        args.append(digest_id)
    out = {}
    for number, key in store.db.execute(sql, args):
        out.setdefault(number, set()).add(key)
    return out


def test_no_client_is_offered_an_item_whose_condition_they_fail_or_out_of_date_or_language(tmp_path):
    store = world(tmp_path)
    p = offers.plan(store, ADMIN, "status = active", 8, now=NOW, seed=1)
    offers.commit(store, ADMIN, p, NOW)
    got = offered(store)
    assert got, "nobody got anything"
    for key, *_ in ITEMS:
        requires = items.get(store, key)["requires"]
        if requires:
            allowed = {r["client_number"] for r in segments.select(store, ADMIN, requires)}
            takers = {n for n, keys in got.items() if key in keys}
            assert takers <= allowed, key
    everyone = set().union(*got.values())
    assert "old1" not in everyone and "new1" not in everyone  # ended yesterday, starts tomorrow
    assert "tr1" not in everyone  # nobody reads Turkish
    assert got["K00005"] <= {"en1"} and "en1" in got["K00005"]  # reads English only
    assert "en1" not in got["K00001"]
    assert "zorg1" in got["K00006"]  # no language: the organisation's (nl)
    assert got["K00001"] >= {"auto1", "cv1"} and "auto1" not in got["K00002"] and "cv1" not in got["K00003"]


def test_a_second_language_is_read_too(tmp_path):
    store = world(tmp_path)
    store.db.execute("UPDATE clients SET second_language = 'tr' WHERE client_number = 'K00001'")
    offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00001", 8, now=NOW), NOW)
    assert "tr1" in offered(store)["K00001"]


def test_items_shown_and_ignored_are_not_repeated_but_clicked_ones_may_be(tmp_path, secret):
    store = world(tmp_path)
    first = offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00001", 2, now=NOW, seed=3), NOW)
    shown = offered(store, first["digest_id"])["K00001"]
    assert len(shown) == 2
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?", ["2025-06-17T10:00:00Z"])
    clicked = sorted(shown)[0]
    store.db.execute("UPDATE offers SET clicked_at = '2025-06-17T11:00:00Z' WHERE item_id = ?",
                     [items.get(store, clicked)["id"]])
    later = NOW + timedelta(days=1)
    second = offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00001", 8, now=later, seed=4),
                           later)
    again = offered(store, second["digest_id"])["K00001"]
    assert not (again & (shown - {clicked}))
    assert clicked in again
    much_later = NOW + timedelta(days=15)
    third = offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00001", 8, now=much_later),
                          much_later)
    assert shown <= offered(store, third["digest_id"])["K00001"]  # the repeat window has passed


def test_digests_skip_clients_at_the_frequency_cap_and_wait_for_quiet_hours_to_end(tmp_path):
    store = world(tmp_path, max_per_week=2, quiet_hours="21:00-08:00")
    cid = store.db.execute("SELECT id FROM clients WHERE client_number = 'K00001'").fetchone()[0]
    from caseload import outbox

    for k in range(2):
        q = outbox.enqueue(store, cid, "email", "eerder", subject="x", kind="campaign", occurrence=f"o{k}", now=NOW)
        store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE id = ?",
                         ["2025-06-15T10:00:00Z", q.id])
    night = datetime(2025, 6, 17, 21, 30, tzinfo=timezone.utc)  # 23:30 in Amsterdam
    p = offers.plan(store, ADMIN, "status = active", now=night)
    assert p.skipped["frequency_cap"] == 1
    assert cid not in {int(p.scan.ids[k]) for k in p.rows}
    assert p.due_at == datetime(2025, 6, 18, 6, 0, tzinfo=timezone.utc)  # 08:00 local
    offers.commit(store, ADMIN, p, night)
    assert store.db.execute("SELECT MIN(due_at) FROM messages WHERE kind = 'campaign' AND occurrence = ''"
                            ).fetchone()[0] == "2025-06-18T06:00:00Z"
    report = outbox.send_due(store, now=night)
    assert report.sent == 0 and report.quiet_until


def test_digests_respect_opt_out_per_channel(tmp_path):
    store = world(tmp_path)
    ids = dict(store.db.execute("SELECT client_number, id FROM clients"))
    policy.set_opt_out(store, ids["K00001"], "email", source="coach")  # prefers email: gets SMS
    policy.set_opt_out(store, ids["K00002"], "all", source="coach")
    p = offers.plan(store, ADMIN, "status = active", now=NOW)
    assert p.skipped["opted_out"] == 1
    offers.commit(store, ADMIN, p, NOW)
    channels = dict(store.db.execute("SELECT c.client_number, m.channel FROM messages m JOIN clients c"
                                     " ON c.id = m.client_id"))
    assert channels["K00001"] == "sms" and "K00002" not in channels
    assert channels["K00007"] == "sms" and channels["K00009"] == "email"


def test_a_coach_reaches_only_their_own_clients(tmp_path):
    store = world(tmp_path)
    store.db.execute("UPDATE clients SET coach = 'coach2' WHERE client_number IN ('K00001', 'K00002')")
    coach = access.Actor("coach2", "coach", "t1")
    p = offers.plan(store, coach, "status = active", now=NOW)
    assert p.count == 2
    with pytest.raises(Exception):
        offers.plan(store, access.Actor("ana", "analyst"), "status = active", now=NOW)


def test_item_links_record_a_click_only_on_the_buttons_post(tmp_path, secret):
    store = world(tmp_path)
    offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00007", 2, now=NOW), NOW)
    body = store.db.execute("SELECT body FROM messages").fetchone()[0]
    links = [w for w in body.split() if "/l/" in w]
    assert len(links) == 2 and "werk.example" not in body
    key = link_key(SECRET)
    endpoint = Endpoint(store.config, lambda: store, secret=SECRET)
    path = "/l/" + links[0].split("/l/")[1]
    _, url, item_id = read_link(key, path[3:])
    for _ in range(3):  # a link scanner fetches every link, and follows redirects when it gets one
        r = endpoint.handle("GET", path, {}, b"")
        assert r.status == 200 and b"<form method=\"post\"" in r.body and b"Over " in r.body
        assert endpoint.handle("HEAD", path, {}, b"").status == 200
    assert store.db.execute("SELECT COUNT(*) FROM clicks").fetchone()[0] == 0
    r = endpoint.handle("POST", path, {}, b"")
    assert r.status == 303 and r.headers["Location"] == url
    assert store.db.execute("SELECT item_id, kind FROM clicks").fetchall() == [(item_id, "link")]
    assert store.db.execute("SELECT COUNT(*) FROM offers WHERE clicked_at IS NOT NULL AND item_id = ?",
                            [item_id]).fetchone()[0] == 1
    key_of = store.db.execute("SELECT key FROM items WHERE id = ?", [item_id]).fetchone()[0]
    tag_of = items.get(store, key_of)["tags"][0]
    for expression in (f'clicked.item = "{key_of}" within 1 day', f"geklikt.label = {tag_of}", "clicked within 7 days"):
        assert [r["client_number"] for r in segments.select(store, ADMIN, expression)] == ["K00007"], expression
    assert "K00007" not in {r["client_number"] for r in segments.select(store, ADMIN, "not clicked")}
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert endpoint.handle("POST", forged, {}, b"").status == 404


def test_preview_explains_each_pick_in_the_coachs_language(tmp_path, secret):
    from caseload import i18n

    store = world(tmp_path)
    result = offers.preview(store, ADMIN, "K00004", 3, now=NOW)
    keys = [r["key"] for r in result["items"]]
    assert keys[0] == "zorg1"  # desired sector: care (Zorg en welzijn) fits the tag zorg
    i18n.set_language("nl")
    result = offers.preview(store, ADMIN, "K00004", 3, now=NOW)
    assert "past bij gewenste sector: zorg" in result["items"][0]["why"]
    assert store.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'digest_preview'").fetchone()[0] == 2


def test_bad_items_are_refused_with_a_reason(tmp_path):
    store = world(tmp_path)
    with pytest.raises(BadInput) as e:
        items.add(store, ADMIN, {"key": "x", "kind": "job?", "title": "", "url": "javascript:alert(1)",
                                 "requires": "wellbeing <"})
    text = "\n".join(e.value.details)
    assert "kind" in text and "title" in text and "url" in text and "requires" in text


def test_expire_stops_an_item_at_once(tmp_path):
    store = world(tmp_path)
    assert items.expire(store, ADMIN, "zorg1") is True
    assert items.expire(store, ADMIN, "zorg1") is False
    offers.commit(store, ADMIN, offers.plan(store, ADMIN, "status = active", 8, now=NOW), NOW)
    assert "zorg1" not in set().union(*offered(store).values())
    assert items.show(store, ADMIN, "zorg1")["state"] == "expired"


def test_import_under_sudo_takes_only_standard_input(tmp_path, monkeypatch):
    store = world(tmp_path)
    path = tmp_path / "items.csv"
    path.write_text("key,kind,title,url\nk1,tip,T,https://x.example/\n")
    monkeypatch.setenv("SUDO_USER", "someone")
    monkeypatch.setenv("SUDO_UID", str(os.geteuid() + 1))
    with pytest.raises(BadInput):
        items.import_items(store, ADMIN, str(path))


def test_the_daemon_runs_scheduled_digests_once_a_round_within_cap_quiet_hours_and_opt_out(tmp_path):
    from caseload import outbox
    from caseload.daemon import loop

    store = world(tmp_path, max_per_week=2, quiet_hours="21:00-08:00")
    ids = dict(store.db.execute("SELECT client_number, id FROM clients"))
    for k in range(2):  # K00001 reached the cap this week
        q = outbox.enqueue(store, ids["K00001"], "email", "eerder", subject="x", kind="campaign", occurrence=f"o{k}",
                           now=NOW)
        store.db.execute("UPDATE messages SET status = 'sent', sent_at = ? WHERE id = ?", ["2025-06-16T10:00:00Z", q.id])
    policy.set_opt_out(store, ids["K00002"], "all", source="coach")
    policy.set_opt_out(store, ids["K00003"], "email", source="coach")
    morning = offers.add_schedule(store, ADMIN, "status = active", "1d", "11:00", 2, now=NOW)
    paused = offers.add_schedule(store, ADMIN, "client_number = K00005", "1d", "11:00", 1, now=NOW)
    offers.set_status(store, ADMIN, paused["id"], "paused")
    d = loop.Daemon(store.config, store.path, tick=1, serve_webhooks=False)
    d.start()
    try:
        assert d.run_job("digests", NOW).result == {"rounds": 0, "queued": 0}  # 12:00 local: next is tomorrow
        tomorrow = NOW + timedelta(days=1)  # 12:00 local, an hour after 11:00
        done = d.run_job("digests", tomorrow).result
        assert done["rounds"] == 1
        assert d.run_job("digests", tomorrow + timedelta(minutes=5)).result["rounds"] == 0  # once a round
        got = dict(store.db.execute("SELECT c.client_number, m.channel FROM messages m JOIN clients c"
                                    " ON c.id = m.client_id WHERE m.campaign_id = ?", [morning["campaign_id"]]))
        assert "K00001" not in got and "K00002" not in got  # at the cap; opted out of everything
        assert got["K00003"] == "sms" and got["K00004"] == "email" and len(got) == 10 == done["queued"]
        assert not store.db.execute("SELECT 1 FROM messages WHERE campaign_id = ?", [paused["campaign_id"]]).fetchall()
        evening = offers.add_schedule(store, ADMIN, "client_number = K00004", "1d", "22:00", 1, now=tomorrow)
        night = datetime(2025, 6, 18, 20, 5, tzinfo=timezone.utc)  # 22:05 local: quiet hours
        assert d.run_job("digests", night).result["rounds"] == 1
        due = store.db.execute("SELECT due_at FROM messages WHERE campaign_id = ?", [evening["campaign_id"]]).fetchall()
        assert due == [("2025-06-19T06:00:00Z",)]  # 08:00 local, when quiet hours end
        assert outbox.send_due(store, now=night).sent == 0
    finally:
        d.close()


def test_the_daemon_process_plans_a_due_round_with_numpy_loaded_only_then(tmp_path, monkeypatch):
    """The real `caseload daemon` (which keeps numpy and pandas out of sqlite-utils to stay small)
    queues a due digest round."""
    from daemon_support import DaemonProcess, daemon_config, open_test_store, query, wait_for
    from servers import add_clients

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    config, port = daemon_config(tmp_path / "config.toml")
    store = open_test_store(tmp_path, config)
    add_clients(store, 3)
    load_items(store)
    s = offers.add_schedule(store, ADMIN, "status = active", "1d", "09:00", 2)
    store.db.execute("UPDATE digest_schedules SET next_at = '2000-01-01T00:00:00Z'")
    store.close()
    with DaemonProcess(tmp_path, tmp_path / "caseload.db", config, port) as d:
        d.wait_ready()
        wait_for(lambda: query(d.db, "SELECT COUNT(*) FROM messages WHERE campaign_id = ?", [s["campaign_id"]])[0][0]
                 == 3, 30, "the round's messages")
        assert d.terminate() == 0
        assert "failed" not in d.output(), d.output()
    assert query(d.db, "SELECT COUNT(*) FROM offers")[0][0] == 6
