"""The headless parts the TUI stands on: overview (keyset pages, sorts, scope, count),
timeline (order, scope, audit) and completion (candidates; never fails on any text)."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from caseload import access, completion, overview, segments, timeline
from caseload.config import load_config
from caseload.errors import NotFound, PermissionDenied
from caseload.store import open_store
from tui_fixture import MARKUP_NOTE, MARKUP_NUMBER, MARKUP_REPLY, database, frozen


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with frozen():
        s = open_store(load_config(None), database(tmp_path_factory.mktemp("core")))
        yield s
        s.close()


ADMIN = access.Actor("admin", "admin")
ANNA = access.Actor("anna", "coach", "team1")
LEAD = access.Actor("lead", "teamlead", "team1")


def walk(store, actor, size, **kw):
    rows, after = [], None
    while True:
        page = overview.page(store, actor, after=after, limit=size, with_reasons=False, **kw)
        rows += page
        if len(page) < size:
            return rows
        after = page[-1].key


@pytest.mark.parametrize("sort", overview.SORTS)
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_give_every_client_once_in_order(store, sort, descending):
    whole = overview.page(store, ADMIN, sort=sort, descending=descending, limit=10_000, with_reasons=False)
    paged = walk(store, ADMIN, 7, sort=sort, descending=descending)
    assert [r.id for r in paged] == [r.id for r in whole]
    assert len({r.id for r in paged}) == overview.count(store, ADMIN) == len(whole)
    nocase = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")  # SQLite's NOCASE
    keys = [tuple(k.translate(nocase) if isinstance(k, str) else k for k in r.key) for r in whole]
    assert keys == sorted(keys, reverse=descending)
    offset = overview.page(store, ADMIN, sort=sort, descending=descending, offset=14, limit=7, with_reasons=False)
    assert [r.id for r in offset] == [r.id for r in whole[14:21]]


def test_scope_and_filter(store):
    mine = walk(store, ANNA, 10)
    assert {r.coach for r in mine} == {"anna"} and len(mine) == overview.count(store, ANNA)
    team = walk(store, LEAD, 10)
    assert {r.coach for r in team} == {"anna", "bram"}
    where, params = segments.resolve_where(store, "wellbeing <= 2")
    low = walk(store, ANNA, 5, where=where, params=params)
    assert low and all(r.wellbeing <= 2 for r in low)
    assert len(low) == overview.count(store, ANNA, where, params) == segments.count(store, ANNA, "wellbeing <= 2")
    with pytest.raises(PermissionDenied):
        overview.page(store, access.Actor("ana", "analyst"))


def test_trend_and_reasons(store):
    with frozen():
        row = next(r for r in overview.page(store, ANNA, *segments.resolve_where(store, f"client_number = {MARKUP_NUMBER}")))
    assert (row.wellbeing, row.wellbeing_before, row.trend) == (1, 3, -1)
    assert [s for s, _ in row.reasons] == ["unread_message", "wellbeing_drop"]


def test_timeline_newest_first_scoped_and_audited(store):
    events = timeline.timeline(store, ANNA, MARKUP_NUMBER)
    kinds = [e.kind for e in events]
    assert {"message", "reply", "note", "intervention_start"} <= set(kinds)
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    assert {e.text for e in events} >= {MARKUP_NOTE, MARKUP_REPLY, "work-first"}
    last = store.db.execute("SELECT actor, action, object FROM audit ORDER BY id DESC LIMIT 2").fetchall()
    assert [a[:2] for a in last] == [("anna", "read"), ("anna", "view_timeline")]  # her client's replies: read
    assert last[1][2].startswith("client:")
    with pytest.raises(NotFound):
        timeline.timeline(store, access.Actor("dirk", "coach", "team2"), MARKUP_NUMBER)


def test_completion_names_operators_values(store):
    start, found = completion.complete(store, "welb", "nl")
    assert start == 0 and found[0].text == "welbevinden"  # its Dutch name (the key: wellbeing)
    assert completion.complete(store, "wellb", "en")[1][0].text == "wellbeing"
    assert [c.text for c in completion.complete(store, "kinderopvang", "nl")[1]] == ["kinderopvang_geregeld"]
    assert [c.text for c in completion.complete(store, "welbevinden ", "nl")[1]][:3] == ["=", "!=", "<"]
    assert [c.text for c in completion.complete(store, "schulden is", "nl")[1]] == ["is ingevuld"]
    assert [c.text for c in completion.complete(store, '"Kinderopvang geregeld" = n', "nl")[1]] == ["nee"]
    assert [c.text for c in completion.complete(store, "wellbeing ", "en")[1]][:3] == ["=", "!=", "<"]
    start, found = completion.complete(store, "debts = n", "nl")
    assert start == len("debts = ") and [c.text for c in found] == ["nee"]
    found = completion.complete(store, "status in (act", "en")[1]
    assert [c.text for c in found] == ["active"]
    found = completion.complete(store, "wellbeing <= 2 and segment = ", "nl")[1]
    assert '"Laag welzijn"' in [c.text for c in found]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("abdegilnstw_ =<>!~(),\"'0123456789.é")), max_size=40))
def test_completion_never_fails(store, text):
    start, found = completion.complete(store, text, "nl")
    assert 0 <= start <= len(text)
    assert len(found) <= completion.MAX
