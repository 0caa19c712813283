"""End to end: items imported from a file, digest rounds sent through a real SMTP server, and
simulated clients who read their mail and follow the item links over real HTTP to the webhook
endpoint, opening the item's page and pressing its button when they like what they see.

Each client has a real preference (one sector) that is nowhere in their profile: the ranking
can only learn it from what they click. The click rate of the ranked digests rises round by
round, and ends well above that of the digests ranked at random (offers.random_share)."""

import hashlib
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from caseload import access, items, offers, outbox
from caseload.config import load_config
from caseload.store import open_store
from servers import HOST, SmtpSink, add_clients, free_port, make_store

ADMIN = access.Actor("admin", "admin")
SECTORS = ("zorg", "bouw", "logistiek", "horeca")
CLIENTS = 60
ROUNDS = 5
LIKED, OTHER = 0.8, 0.05  # the chance a client clicks an item of their sector, and any other


def chance(*parts) -> float:
    """A fixed pseudo-random number in [0, 1) for these parts (the test is deterministic)."""
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) / 2**32


def preference(number: int) -> str:
    return SECTORS[number % len(SECTORS)]


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "e2e-offers-secret")
    port = free_port()
    with SmtpSink() as sink:
        store = make_store(tmp_path, smtp_port=sink.port, daemon={"listen": f"{HOST}:{port}",
                                                                  "public_url": f"http://{HOST}:{port}"})
        with open(store.config.path, "a", encoding="utf-8") as f:
            f.write("\n[offers]\nrandom_share = 0.25\nexplore_share = 0.2\nitems = 3\n")
        store.close()
        config = load_config(tmp_path / "config.toml")
        store = open_store(config, tmp_path / "caseload.db")
        add_clients(store, CLIENTS)
        from caseload.daemon import webhooks

        server = webhooks.serve(config, lambda: open_store(config, store.path), f"{HOST}:{port}")
        try:
            yield store, sink, tmp_path
        finally:
            server.stop()
            store.close()


def import_items(store, tmp_path) -> None:
    lines = ["sleutel;soort;titel;tekst;url;tags"]
    for sector in SECTORS:
        for n in range(8):
            lines.append(f"{sector}{n};vacature;{sector.title()} vacature {n};Werk in de {sector};"
                         f"https://werk.example/{sector}/{n};{sector}, werk")
    path = tmp_path / "aanbod.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert items.import_items(store, ADMIN, str(path))["added"] == 8 * len(SECTORS)


def read_and_click(http: httpx.Client, mail, round_: int) -> tuple[int, int]:
    """One client reads one digest: opens every item link, clicks the ones they like."""
    number = int(re.search(r"klant(\d+)@", mail.rcpt_tos[0])[1])
    links = re.findall(rf"http://{re.escape(HOST)}:\d+/l/\S+", mail.text())
    assert links, mail.text()
    clicks = 0
    for link in links:
        page = http.get(link)
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
        title = re.search(r"<h1[^>]*>(.*?)</h1>", page.text)[1]
        liked = title.lower().startswith(preference(number))
        if chance(number, title, round_) < (LIKED if liked else OTHER):
            pressed = http.post(link)  # the button on the page
            assert pressed.status_code == 303 and pressed.headers["Location"].startswith("https://werk.example/")
            clicks += 1
    return len(links), clicks


def test_click_rate_rises_round_by_round_and_beats_the_random_share(world):
    store, sink, tmp_path = world
    import_items(store, tmp_path)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=ROUNDS + 1)
    rates = []
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        for k in range(ROUNDS):
            now = start + timedelta(days=k)
            p = offers.plan(store, ADMIN, "status = active", now=now, seed=k)
            done = offers.commit(store, ADMIN, p, now)
            assert done["queued"] == CLIENTS
            before = len(sink.messages())
            report = outbox.send_due(store, now=now)
            assert report.sent == CLIENTS
            for mail in sink.wait_for(before + CLIENTS)[before:]:
                read_and_click(http, mail, k)
            shown, clicked = store.db.execute(
                "SELECT COUNT(*), COUNT(o.clicked_at) FROM offers o WHERE o.digest_id = ? AND o.random = 0",
                [done["digest_id"]]).fetchone()
            rates.append(clicked / shown)
    random_shown, random_clicked = store.db.execute(
        "SELECT COUNT(*), COUNT(clicked_at) FROM offers WHERE random = 1").fetchone()
    random_rate = random_clicked / random_shown
    assert random_shown >= 100  # a quarter of 5 rounds x 60 clients x 3 items, give or take
    # rising round by round (a dip of a few points between two rounds is chance), and clearly in the end
    for earlier, later in zip(rates, rates[1:]):
        assert later >= earlier - 0.05, rates
    assert rates[-1] > rates[0] + 0.2, rates
    assert rates[-1] > random_rate + 0.2 and sum(rates[2:]) / 3 > random_rate, (rates, random_rate)
    # every click went through the real endpoint and is in the report
    from caseload.reports import offers_report

    r = offers_report(store, ADMIN)
    assert r["lift"]["lift_pp"] > 0 and r["lift"]["ci_low_pp"] > 0
