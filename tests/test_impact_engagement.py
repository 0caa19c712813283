"""Engagement beside outcome: click rates by channel, campaign and offer; engagers against
comparable non-engagers, labelled an association."""

import random

import pytest

from caseload.reports import engagement_outflow, engagement_report
from test_reports import insert_message, insert_row
from test_reports_data import NOW, actor, insert_clients, insert_observations, new_store

START = "2025-01-01"


def _caseload(store, n=1500, seed=21):
    """Clients with complaints reply less (20% against 60%) and leave less (10% against 40% a
    year); replying or clicking goes with 10 more points of outflow after the window."""
    rng = random.Random(seed)
    rows, obs, engaged = [], [], {}
    for i in range(1, n + 1):
        complaints = rng.random() < 0.4
        engaged[i] = rng.random() < (0.2 if complaints else 0.6)
        p = (0.10 if complaints else 0.40) + (0.10 if engaged[i] else 0.0)
        gone = rng.random() < p
        rows.append({"id": i, "coach": "cora", "intake_date": "2024-01-01", "outflow_type": "fulltime" if gone else None,
                     "outflow_date": f"2025-{rng.randint(5, 12):02d}-01" if gone else None})
        obs.append((i, "physical_complaints", complaints, "2024-01-01T10:00:00Z"))
    insert_clients(store, rows)
    insert_observations(store, obs)
    for i in range(1, n + 1):
        insert_message(store, client_id=i, status="sent", at="2025-01-10T10:00:00Z", sent_at="2025-01-10T10:00:00Z",
                       channel="sms" if i % 3 else "email", kind="campaign")
    ids = dict(store.conn.execute("SELECT client_id, id FROM messages"))
    for i, yes in engaged.items():
        if yes and i % 2:
            insert_row(store, "replies", message_id=ids[i], client_id=i, channel="sms",
                       received_at="2025-01-11T10:00:00Z")
        elif yes:
            insert_row(store, "clicks", message_id=ids[i], client_id=i, kind="link", at="2025-01-11T10:00:00Z")
    for i in range(1, 41):  # offers of two items; 'vacature' clicked 15 times in 20, 'tip' 2 in 20
        key = "vacature" if i <= 20 else "tip"
        if i in (1, 21):
            insert_row(store, "items", id=1 if key == "vacature" else 2, key=key, kind="tip")
        insert_row(store, "offers", digest_id=1, message_id=ids[i], client_id=i, item_id=1 if i <= 20 else 2, rank=1,
                   score=1.0, shown_at="2025-01-10T10:00:00Z",
                   clicked_at="2025-01-11T10:00:00Z" if (i <= 15 or 21 <= i <= 22) else None)


@pytest.fixture(scope="module")
def engaged(tmp_path_factory):
    store = new_store(tmp_path_factory.mktemp("engaged"))
    _caseload(store)
    yield store
    store.close()


def test_engagers_against_comparable_non_engagers_is_an_association(engaged):
    store = engaged
    r = engagement_outflow(store, actor(store, "adam"), START, 12, match=["physical_complaints"], now=NOW)
    assert "association, not an effect" in r["label"]
    assert r["engaged"] + r["not_engaged"] == 1500
    assert r["ci_low_pp"] <= 10 <= r["ci_high_pp"], r
    assert r["naive_difference_pp"] > r["difference_pp"] + 5, r  # engagers have fewer complaints
    assert r["matched_share_pct"] == 100.0 and r["window_end"] == "2025-04-01"


def test_click_rates_by_channel_and_offer(engaged):
    store = engaged
    r = engagement_report(store, actor(store, "adam"))
    offers = {x["value"]: x for x in r["by"]["clicks_offer"]}
    assert (offers["vacature"]["n"], offers["vacature"]["clicked"]) == (20, 15)
    assert (offers["tip"]["clicked"], offers["tip"]["rate_pct"]) == (2, 10.0)
    channels = {x["value"]: x for x in r["by"]["clicks_channel"]}
    assert channels["sms"]["n"] == 1000 and 0 < channels["sms"]["clicked"] < 1000
    assert "clicks_campaign" in r["by"]


def test_analyst_gets_the_association_from_a_noisy_release(engaged, no_noise):
    store = engaged
    r = engagement_outflow(store, actor(store, "ana"), START, 12, match=["physical_complaints"], now=NOW)
    assert r["privacy"] and r["ci_low_pp"] <= 10 <= r["ci_high_pp"], r
    e = engagement_report(store, actor(store, "ana"))
    assert {x["value"] for x in e["by"]["clicks_offer"]} >= {"vacature", "tip"}


def test_report_engagement_cli_shows_the_association(engaged, tmp_path):
    from click.testing import CliRunner

    from caseload.cli import main

    cfg = tmp_path / "config.toml"
    cfg.write_text("[reports]\nmin_cell_size = 5\n", encoding="utf-8")
    env = {"SUDO_USER": "adam", "SUDO_UID": "", "LANG": "en_US.UTF-8", "COLUMNS": "250"}
    base = ["--db", str(engaged.path), "--config", str(cfg), "report", "engagement", "--date", START,
            "--match", "physical_complaints"]
    r = CliRunner().invoke(main, base, env=env)
    assert r.exit_code == 0, r.output
    assert "association, not an effect" in r.stderr and "clicks_offer" in r.stdout
    r = CliRunner().invoke(main, [*base, "--html", "-"], env=env)
    assert r.exit_code == 0 and "Click rate by offered item" in r.stdout and "association" in r.stdout
