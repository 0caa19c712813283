"""Working on many clients: the same observation for the marked clients and handing a leaving
coach's clients to another, all or nothing, audited, with roles enforced in the core; the CLI's
`client reassign` asks first."""

import pytest

from caseload import access, bulk, clients, followups
from caseload.errors import NotFound, PermissionDenied
from conftest import snapshot_tables
from servers import add_clients, make_store


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    with s.db.conn:
        access.add_user(s.db, "lead1", "teamlead", None)
    add_clients(s, 3, coach="coach1")
    add_clients(s, 1, start=4, coach="coach2")
    yield s
    s.close()


def actions(store) -> list[tuple]:
    return store.db.execute("SELECT actor, action, object FROM audit WHERE action = 'observe' OR action = 'reassign'"
                            " ORDER BY id").fetchall()


def test_a_tag_for_many_is_all_or_nothing_and_audited_per_client(store):
    coach = access.Actor("coach1", "coach")
    with pytest.raises(NotFound) as e:
        bulk.set_many(store, coach, ["K00001", "K00004"], {"debts": "ja"})  # K00004 is coach2's
    assert "K00004" in e.value.message and actions(store) == []
    assert bulk.set_many(store, coach, ["K00001", "K00002"], {"schulden": "ja"}) == 2
    for number in ("K00001", "K00002"):
        profile = {p.key: p.value for p in clients.profile(store, clients.client_id(store, coach, number))}
        assert profile["debts"] is True
    assert [a[:2] for a in actions(store)] == [("coach1", "observe")] * 2


def test_reassigning_is_for_team_leads_and_admins_and_all_or_nothing(store, tmp_path):
    with pytest.raises(PermissionDenied):
        bulk.reassign(store, access.Actor("coach1", "coach"), "coach2", ["K00001"])
    admin = access.Actor("admin", "admin")
    before = snapshot_tables(tmp_path / "caseload.db")
    with pytest.raises(NotFound):
        bulk.reassign(store, admin, "coach2", ["K00001", "K99999"])
    assert snapshot_tables(tmp_path / "caseload.db") == before
    numbers = bulk.numbers_in(store, admin, "coach = coach1")
    assert numbers == ["K00001", "K00002", "K00003"]
    assert bulk.reassign(store, admin, "coach2", numbers) == 3
    assert store.db.execute("SELECT count(*) FROM clients WHERE coach = 'coach2'").fetchone()[0] == 4
    assert [a[:2] for a in actions(store)] == [("admin", "reassign")] * 3


def test_open_follow_ups_go_with_the_client_to_the_new_coach(store):
    coach1 = access.Actor("coach1", "coach")
    open_one = followups.add(store, coach1, "K00001", "Terugbellen", "2030-01-10")
    done_one = followups.add(store, coach1, "K00001", "Cv nakijken", "2030-01-03")
    followups.done(store, coach1, done_one)
    with store.db.conn:
        access.add_user(store.db, "lead2", "coach", None)
    someone_elses = followups.add(store, access.Actor("admin", "admin"), "K00001", "Brief sturen", "2030-01-05",
                                  assignee="lead2")
    bulk.reassign(store, access.Actor("admin", "admin"), "coach2", ["K00001"])
    assignee = dict(store.db.execute("SELECT id, assignee FROM follow_ups").fetchall())
    assert assignee == {open_one: "coach2", done_one: "coach1", someone_elses: "lead2"}


def test_a_team_lead_hands_over_only_within_the_team(store):
    with store.db.conn:
        store.db.execute("UPDATE users SET team = 'noord' WHERE name IN ('lead1', 'coach1', 'coach2')")
        access.add_user(store.db, "coach3", "coach", "zuid")
    lead = access.resolve_actor(store.db, "lead1")
    with pytest.raises(PermissionDenied):
        bulk.reassign(store, lead, "coach3", ["K00001"])
    assert bulk.coaches_for(store, lead) == ["coach1", "coach2", "lead1"]
    assert bulk.reassign(store, lead, "coach2", ["K00001"]) == 1


def test_client_reassign_asks_and_moves_a_leaving_coachs_clients(cli):
    for name in ("anna", "bram"):
        assert cli("user", "add", name, "--role", "coach").exit_code == 0
    for n in (1, 2):
        assert cli("client", "add", f"client_number={n}", "coach=anna").exit_code == 0
    r = cli("client", "reassign", "--from", "anna", "--to", "bram")  # no terminal to answer: nothing done
    assert r.exit_code == 1 and "Hand 2 clients to bram?" in r.stderr
    r = cli("client", "reassign", "--from", "anna", "--to", "bram", "--yes")
    assert r.exit_code == 0 and "2 clients handed to bram." in r.stderr
    assert cli("client", "list", "--format", "csv", user="bram").stdout.count("\n") == 3
    r = cli("client", "reassign", "1", "--to", "anna", user="bram")
    assert r.exit_code == 1 and "role" in r.stderr


def test_client_reassign_refuses_bad_input_with_one_message_and_writes_nothing(cli, tmp_path):
    for name, role in (("anna", "coach"), ("bram", "coach"), ("ana", "analyst")):
        assert cli("user", "add", name, "--role", role).exit_code == 0
    assert cli("client", "add", "client_number=1", "coach=anna").exit_code == 0
    before = snapshot_tables(tmp_path / "caseload.db")
    for args, says in ((["1", "--to", "nobody"], "'nobody' is no active coach."),
                       (["1", "--to", "ana"], "'ana' is no active coach."),
                       (["1", "--from", "anna", "--to", "bram"], "one of the three"),
                       (["--to", "bram"], "one of the three"),
                       (["--from", "bram", "--to", "anna"], "No clients chosen."),
                       (["1", "99", "--to", "bram", "--yes"], "99")):
        r = cli("client", "reassign", *args)
        assert r.exit_code != 0 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    after = snapshot_tables(tmp_path / "caseload.db")
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
