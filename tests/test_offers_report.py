"""`caseload report offers`: click rates by kind, tag and position over the items that went out,
the ranking against random digests with an interval, outflow by whether a client clicked; small
groups suppressed; analysts get a privacy release, not exact counts."""

from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, items, offers
from caseload.reports import offers_report
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
ANALYST = access.Actor("ana", "analyst")
NOW = datetime(2025, 6, 17, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    add_clients(s, 60)
    access.add_user(s.db, "ana", "analyst", "t1")
    for key, kind, tags in (("v1", "vacancy", "zorg"), ("v2", "vacancy", "bouw"), ("t1", "tip", "cv"),
                            ("a1", "activity", "sport, zorg"), ("n1", "news", "rare")):
        items.add(s, ADMIN, {"key": key, "kind": kind, "title": key, "url": f"https://x.example/{key}", "tags": tags})
    yield s
    s.close()


def round_with_clicks(store):
    """One digest round, all sent; every other client's digest ranked at random (and never
    clicked), the first item of the others clicked."""
    offers.commit(store, ADMIN, offers.plan(store, ADMIN, "status = active", 3, now=NOW, seed=7), NOW)
    store.db.execute("UPDATE messages SET status = 'sent', sent_at = ?", ["2025-06-17T10:05:00Z"])
    store.db.execute("UPDATE offers SET random = client_id % 2 = 0")
    store.db.execute("UPDATE offers SET clicked_at = '2025-06-17T11:00:00Z' WHERE rank = 1 AND random = 0")


def test_staff_see_click_rates_by_kind_tag_position_and_the_lift_over_random(store):
    round_with_clicks(store)
    shown, clicked = store.db.execute("SELECT COUNT(*), COUNT(clicked_at) FROM offers").fetchone()
    r = offers_report(store, ADMIN, now=NOW + timedelta(days=1))
    by = r["by"]
    assert sum(x["n"] or 0 for x in by["kind"]) + sum(1 for x in by["kind"] if x["suppressed"]) > 0
    position = {x["value"]: x for x in by["position"]}
    assert position["1"]["rate_pct"] > 0 and position["2"]["clicked"] == 0 and position["3"]["clicked"] == 0
    arm = {x["value"]: x for x in by["arm"]}
    assert arm["random"]["clicked"] == 0 and arm["ranked"]["clicked"] > 0
    assert arm["ranked"]["n"] + arm["random"]["n"] == shown
    lift = r["lift"]
    assert lift["lift_pp"] > 0 and lift["ci_low_pp"] < lift["lift_pp"] < lift["ci_high_pp"]
    assert lift["ci_low_pp"] > 0  # 30 clients a side, a third of their items clicked against none
    tags = {x["value"]: x for x in by["tag"]}
    assert "zorg" in tags and (tags.get("rare") is None or tags["rare"]["suppressed"] or tags["rare"]["n"] >= 5)
    for rows in (*by.values(), r["outflow"]):
        for x in rows:
            assert x["suppressed"] or x.get("clients") is None or x["clients"] >= r["min_cell_size"]
    # outflow: nobody left yet; then ten clients who clicked do
    assert {x["value"]: x["outflow"] for x in r["outflow"]} == {"clicked": 0, "not_clicked": 0}
    store.db.execute("UPDATE clients SET status = 'outflow', outflow_type = 'fulltime', outflow_date = '2025-07-01'"
                     " WHERE id IN (SELECT client_id FROM offers WHERE clicked_at IS NOT NULL LIMIT 10)")
    r = offers_report(store, ADMIN, now=NOW + timedelta(days=20))
    assert {x["value"]: x["outflow"] for x in r["outflow"]} == {"clicked": 10, "not_clicked": 0}
    assert clicked == {x["value"]: x for x in r["outflow"]}["clicked"]["n"]


def test_a_small_group_is_suppressed_with_a_second_one(store):
    items.expire(store, ADMIN, "n1")
    round_with_clicks(store)
    # one client alone saw a news item at position 3
    store.db.execute("UPDATE offers SET item_id = (SELECT id FROM items WHERE key = 'n1') WHERE id = "
                     "(SELECT MIN(id) FROM offers WHERE rank = 3)")
    r = offers_report(store, ADMIN, now=NOW + timedelta(days=1))
    kind = {x["value"]: x for x in r["by"]["kind"]}
    assert kind["news"]["suppressed"] and kind["news"]["n"] is None and kind["news"]["clicked"] is None
    assert sum(x["suppressed"] for x in r["by"]["kind"]) == 2  # and the smallest other, against subtraction


def test_analysts_get_a_noisy_release_once_per_period(store):
    round_with_clicks(store)
    r = offers_report(store, ANALYST, now=NOW + timedelta(days=1))
    assert r["privacy"]["weighted"] and r["privacy"]["epsilon"] > 0 and not r["privacy"]["repeated"]
    again = offers_report(store, ANALYST, now=NOW + timedelta(days=1))
    assert again["privacy"]["repeated"] and again["by"] == r["by"]
    assert store.db.execute("SELECT COUNT(*) FROM privacy_releases WHERE kind = 'report'").fetchone()[0] == 1
    assert all("clients" not in x for rows in r["by"].values() for x in rows)


def test_report_offers_on_the_command_line(store):
    from click.testing import CliRunner

    from caseload.cli import main

    round_with_clicks(store)
    runner = CliRunner(env={"SUDO_USER": "admin", "SUDO_UID": "", "LANG": "en_US.UTF-8", "COLUMNS": "200"})
    args = ["--config", str(store.config.path), "--db", str(store.path), "report", "offers", "--days", "3650"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "gerangschikt" in result.output and "procentpunt" in result.output  # the organisation speaks Dutch
    result = runner.invoke(main, [*args, "--format", "csv"])
    assert result.exit_code == 0 and result.output.splitlines()[0].startswith("section,value,n,clicked")
    assert runner.invoke(main, [*args[:-1], "0"]).exit_code == 2
