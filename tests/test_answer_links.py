"""One-tap answer links: a GET (which link scanners make for every link in an email) only shows
the answer with a button; the POST behind the button records it, once: a replay changes nothing.
Ids that a link can name are never reused, so an old link of an erased client cannot write into
another client's profile."""

from datetime import datetime, timezone

import pytest

from caseload import access, checkins, clients, erasure, links
from caseload.daemon import webhooks
from conftest import snapshot_tables
from daemon_support import HOOK
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", HOOK)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    yield s
    s.close()


def endpoint(store):
    return webhooks.Endpoint(store.config, lambda: store, secret=HOOK)


def answer_paths(store, number: str) -> list[str]:
    """The one-tap answer links (as paths) of the newest check-in email of this client."""
    checkins.round_now(store, ADMIN, f"client_number = {number}", now=datetime.now(timezone.utc))
    body = store.db.execute("SELECT m.body FROM messages m JOIN clients c ON c.id = m.client_id"
                            " WHERE c.client_number = ? ORDER BY m.id DESC", [number]).fetchone()[0]
    return [ln.split(": ", 1)[1].split("8425", 1)[1] for ln in body.splitlines() if "/a/" in ln]


def counts(store) -> tuple:
    return store.db.execute("SELECT (SELECT COUNT(*) FROM observations), (SELECT COUNT(*) FROM replies),"
                            " (SELECT COUNT(*) FROM clicks)").fetchone()


def test_a_get_only_shows_the_answer_and_a_button(store):
    add_clients(store, 1)
    path = answer_paths(store, "K00001")[3]  # wellbeing 4
    ep = endpoint(store)
    before = snapshot_tables(store.path)
    for _ in range(1000):  # a link scanner, a preview, a person tapping again
        page = ep.handle("GET", path, {}, b"")
    assert page.status == 200 and b'method="post"' in page.body and f'action="{path}"'.encode() in page.body
    assert "Je antwoord: 4." in page.body.decode()  # the answer the link gives, in the client's words
    assert snapshot_tables(store.path) == before


def test_a_one_tap_answer_is_recorded_once_and_a_replay_changes_nothing(store):
    add_clients(store, 1)
    paths = answer_paths(store, "K00001")
    ep = endpoint(store)
    start = counts(store)
    r = ep.handle("POST", paths[3], FORM, b"")
    assert r.status == 200 and "Dank je wel" in r.body.decode()
    assert {p.key: p.value for p in clients.profile(store, 1)}["wellbeing"] == 4
    once = snapshot_tables(store.path)
    assert counts(store) == (start[0] + 1, start[1] + 1, start[2] + 1)
    for _ in range(1000):
        assert ep.handle("POST", paths[3], FORM, b"").status == 200
    assert ep.handle("POST", paths[0], FORM, b"").status == 200  # another answer to the same question
    assert ep.handle("GET", paths[0], {}, b"").status == 200
    assert snapshot_tables(store.path) == once


def test_an_old_link_of_an_erased_client_writes_nothing_into_a_new_clients_checkin(store):
    add_clients(store, 1)
    old = answer_paths(store, "K00001")[0]
    old_checkin = store.db.execute("SELECT MAX(id) FROM checkins").fetchone()[0]
    erasure.forget(store, ADMIN, "K00001")
    add_clients(store, 1, start=2)
    answer_paths(store, "K00002")
    ep = endpoint(store)
    before = snapshot_tables(store.path)
    assert ep.handle("GET", old, {}, b"").status == 404
    assert ep.handle("POST", old, FORM, b"").status == 404
    assert snapshot_tables(store.path) == before
    assert store.db.execute("SELECT MAX(id) FROM checkins").fetchone()[0] != old_checkin  # never handed out again


def test_a_link_made_before_the_upgrade_works_only_for_a_checkin_that_existed_then(store):
    """Links sent before ids were kept from reuse name a check-in as "a<id>.<pos>.<expiry>": such
    a link is honoured only for a check-in that existed when the database was upgraded."""
    add_clients(store, 2)
    answer_paths(store, "K00001")
    kid = store.db.execute("SELECT MAX(id) FROM checkins").fetchone()[0]
    store.db.execute("UPDATE id_floors SET below = ? WHERE name = 'checkins'", [kid + 1])
    store.db.conn.commit()
    ep = endpoint(store)
    expires = datetime(2099, 1, 1, tzinfo=timezone.utc)

    def legacy(checkin_id):
        raw = f"a{checkin_id}.0.{int(expires.timestamp())}".encode()
        return f"/a/{links._b64(raw)}.{links._mac(ep.key, raw)}/4"

    answer_paths(store, "K00002")  # a check-in made after the upgrade, id kid + 1
    before = snapshot_tables(store.path)
    assert ep.handle("POST", legacy(kid + 1), FORM, b"").status == 404
    assert snapshot_tables(store.path) == before
    assert ep.handle("POST", legacy(kid), FORM, b"").status == 200
    assert {p.key: p.value for p in clients.profile(store, 1)}["wellbeing"] == 4


def test_a_restore_keeps_the_ids_given_out_after_the_backup(store, tmp_path):
    from caseload import backup

    add_clients(store, 2)
    answer_paths(store, "K00001")
    backup.backup(store, ADMIN, tmp_path / "b.db")
    answer_paths(store, "K00002")  # its links are in the client's mailbox
    after = store.db.execute("SELECT MAX(id) FROM checkins").fetchone()[0]
    path = store.path
    store.close()
    backup.restore(tmp_path / "b.db", path, user="admin", force=True)
    restored = make_store(tmp_path)
    try:
        answer_paths(restored, "K00002")
        assert restored.db.execute("SELECT MAX(id) FROM checkins").fetchone()[0] > after
    finally:
        restored.close()


def test_over_http_the_page_s_button_records_the_answer(store):
    """As a phone's browser does it: GET the link, then POST the page's form (no fields)."""
    import re
    import urllib.request

    from caseload.store import open_store
    from servers import HOST, free_port

    add_clients(store, 1)
    path = answer_paths(store, "K00001")[3]
    port = free_port()
    srv = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"{HOST}:{port}")
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=10) as r:
            page = r.read().decode()
        action = re.search(r'<form method="post" action="([^"]+)"', page)[1]
        assert counts(store)[1] == 0
        req = urllib.request.Request(f"http://{HOST}:{port}{action}", data=b"", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200 and "Dank je wel" in r.read().decode()
    finally:
        srv.stop()
    assert {p.key: p.value for p in clients.profile(store, 1)}["wellbeing"] == 4
