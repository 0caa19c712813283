"""Users and roles: closed registration, who sees which clients, the last admin, refusals that
are audited, and the sudo setup (who vouches for the user, which files count)."""

import logging
import os

import pytest

from caseload import access, audit, clients, users
from caseload.config import load_config
from caseload.errors import BadInput, CaseloadError, NotFound, PermissionDenied
from caseload.i18n import set_language, t
from caseload.store import open_store
from privacy import Caseload


@pytest.fixture(autouse=True)
def english():
    set_language("en")


@pytest.fixture
def cl(tmp_path):
    cl = Caseload(tmp_path).init()
    cl.ok("client", "add", "client_number=A1", "first_name=Ada", "coach=coach1")
    cl.ok("client", "add", "client_number=A2", "first_name=Bram", "coach=coach1")
    cl.ok("client", "add", "client_number=B1", "first_name=Cor", "coach=coach2")
    return cl


def store_of(cl):
    return open_store(load_config(None), cl.db)


def actor(store, name):
    return access.resolve_actor(store.db, name)


def audit_rows(cl):
    s = store_of(cl)
    try:
        return [(r["actor"], r["action"], r["object"], r["result"]) for r in audit.entries(s.db)]
    finally:
        s.close()


def test_init_registers_the_first_admin_and_audits_it(tmp_path):
    cl = Caseload(tmp_path, admin="boss").init(users=[])
    listed = cl.ok("user", "list", "--format", "csv", user="boss").stdout
    assert listed.splitlines()[1].startswith("boss,admin,,true,")
    assert ("boss", "role_change", "user:boss", "added:admin") in audit_rows(cl)
    # a second init by someone else changes nothing
    cl.ok("init", user="intruder")
    assert "intruder" not in cl.ok("user", "list", "--format", "csv", user="boss").stdout


def test_coach_sees_and_changes_only_own_clients(cl):
    s = store_of(cl)
    coach = actor(s, "coach1")
    assert [c["client_number"] for c in clients.list_clients(s, coach)] == ["A1", "A2"]
    with pytest.raises(NotFound):
        clients.show_client(s, coach, "B1")
    with pytest.raises(NotFound):
        clients.add_note(s, coach, "B1", "not mine")
    with pytest.raises(BadInput):  # cannot hand a client to someone else
        clients.update_client(s, coach, "A1", {"coach": "coach2"})
    s.close()
    assert "B1" not in cl.ok("client", "list", "--format", "csv", user="coach1").stdout
    assert cl.run("client", "show", "B1", user="coach1").exit_code == 2


def test_teamlead_sees_the_team_and_nothing_else(cl):
    s = store_of(cl)
    lead = actor(s, "lead1")  # team-a: coach1's clients, not coach2's (team-b)
    assert sorted(c["client_number"] for c in clients.list_clients(s, lead)) == ["A1", "A2"]
    with pytest.raises(NotFound):
        clients.show_client(s, lead, "B1")
    s.close()


def test_analyst_sees_no_individual_client(cl):
    s = store_of(cl)
    analyst = actor(s, "analyst1")
    with pytest.raises(PermissionDenied):
        clients.list_clients(s, analyst)
    with pytest.raises(PermissionDenied):
        clients.show_client(s, analyst, "A1")
    with pytest.raises(PermissionDenied):
        clients.add_client(s, analyst, {"client_number": "X9"})
    s.close()
    r = cl.run("client", "show", "A1", user="analyst1")
    assert r.exit_code == 1 and t("access.no_client_data", role="analyst") in r.output
    assert "Ada" not in r.output


@pytest.mark.parametrize("who", ["mallory", "gone"])
def test_unknown_or_disabled_user_gets_nothing_and_is_audited(cl, who):
    cl.ok("user", "add", "gone", "--role", "admin")
    cl.ok("user", "disable", "gone")
    for args in (["client", "list"], ["client", "show", "A1"], ["user", "list"], ["audit"], ["backup", cl.dir / "b.db"]):
        r = cl.run(*args, user=who)
        assert r.exit_code == 1, (args, r.output)
        assert t("access.unknown_user", user=who) in r.output
        assert "Ada" not in r.output
    assert not (cl.dir / "b.db").exists()
    refused = [row for row in audit_rows(cl) if row[0] == who]
    assert ("mallory" if who == "mallory" else "gone", "refused", "command:client show", "denied") in refused
    assert len(refused) == 5


def test_user_add_is_admin_only_and_a_role_change_is_audited(cl):
    r = cl.run("user", "add", "eve", "--role", "admin", user="coach1")
    assert r.exit_code == 1 and t("access.denied", role="coach") in r.output
    assert ("coach1", "refused", "command:user add", "denied") in audit_rows(cl)
    cl.ok("user", "add", "coach1", "--role", "teamlead", "--team", "team-b")
    assert ("admin1", "role_change", "user:coach1", "changed:teamlead") in audit_rows(cl)
    s = store_of(cl)
    lead = actor(s, "coach1")
    assert (lead.role, lead.team) == ("teamlead", "team-b")
    assert [c["client_number"] for c in clients.list_clients(s, lead)] == ["A1", "A2", "B1"]  # team-b: coach2 and coach1
    s.close()


@pytest.mark.parametrize("args, key", [
    (["user", "add", "x y", "--role", "coach"], "users.bad_name"),
    (["user", "add", "lead9", "--role", "teamlead"], "users.team_required"),
])
def test_user_add_bad_input(cl, args, key):
    r = cl.run(*args)
    assert r.exit_code == 2
    assert t(key, name="x y").split("'")[0] in r.output


def test_bad_role_is_refused_by_the_command_line(cl):
    assert cl.run("user", "add", "x", "--role", "root").exit_code == 2


def test_the_last_active_admin_stays(cl):
    r = cl.run("user", "disable", "admin1")
    assert r.exit_code == 2 and t("users.last_admin", name="admin1") in r.output
    r = cl.run("user", "add", "admin1", "--role", "coach")
    assert r.exit_code == 2 and t("users.last_admin", name="admin1") in r.output
    cl.ok("user", "add", "admin2", "--role", "admin")
    cl.ok("user", "disable", "admin1", user="admin2")
    assert cl.run("client", "list", user="admin1").exit_code == 1
    r = cl.run("user", "disable", "admin2", user="admin2")
    assert r.exit_code == 2
    # enabling again goes through `user add`
    cl.ok("user", "add", "admin1", "--role", "admin", user="admin2")
    cl.ok("client", "list", user="admin1")


def test_disable_unknown_user(cl):
    assert cl.run("user", "disable", "nobody").exit_code == 2


def test_demo_force_needs_an_admin(cl):
    r = cl.run("demo", "--force", "--clients", "5", user="coach1")
    assert r.exit_code == 1
    assert "Ada" in cl.ok("client", "show", "A1", user="coach1").stdout


def test_core_functions_refuse_without_the_right_role(cl):
    s = store_of(cl)
    coach = actor(s, "coach1")
    for call in (lambda: users.add(s, coach, "x", "admin"), lambda: users.disable(s, coach, "coach2"),
                 lambda: users.list_users(s, coach), lambda: audit.trail(s, coach)):
        with pytest.raises(PermissionDenied):
            call()
    s.close()


# --- who vouches for the user ---------------------------------------------------------------

def test_os_user_is_sudo_user_else_the_account(monkeypatch):
    monkeypatch.setenv("SUDO_USER", "coach7")
    assert access.os_user() == "coach7"
    monkeypatch.delenv("SUDO_USER")
    import getpass

    assert access.os_user() == getpass.getuser()


def test_under_sudo_the_callers_flags_and_files_do_not_count(cl, tmp_path, monkeypatch):
    other_uid = str(os.geteuid() + 1)
    sudo = {"SUDO_USER": "coach1", "SUDO_UID": other_uid}
    r = cl.run("client", "list", env=sudo)  # Caseload.run passes --db and --config
    assert r.exit_code == 1 and t("sudo.no_override", option="--config") in r.output
    # the service's own settings arrive through the environment (sudoers env_file or a wrapper)
    home = tmp_path / "home"
    (home / ".config" / "caseload").mkdir(parents=True)
    # a config.toml in the caller's working directory would lower the minimum cell size
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.toml").write_text('[reports]\nmin_cell_size = 1\n')
    monkeypatch.chdir(work)
    from click.testing import CliRunner

    from caseload.cli import Env, main

    seen = {}
    original = Env.store

    def spy(self, create=False):
        seen["config"] = self.config_path
        return original(self, create)

    monkeypatch.setattr(Env, "store", spy)
    r = CliRunner().invoke(main, ["--lang", "en", "client", "list", "--format", "csv"],
                           env={**sudo, "HOME": str(home), "XDG_CONFIG_HOME": None, "CASELOAD_DB": str(cl.db),
                                "CASELOAD_CONFIG": None})
    assert r.exit_code == 0, r.output
    assert seen["config"] == home / ".config" / "caseload" / "config.toml"
    assert "A1" in r.stdout and "B1" not in r.stdout


def test_a_database_readable_by_others_is_refused(cl):
    os.chmod(cl.db, 0o644)
    r = cl.run("client", "list")
    assert r.exit_code == 1 and "chmod 600" in r.output


def test_config_readable_by_others_gives_a_warning(tmp_path, caplog):
    path = tmp_path / "config.toml"
    path.write_text("[reports]\nmin_cell_size = 5\n")
    os.chmod(path, 0o600)
    with caplog.at_level(logging.WARNING, logger="caseload"):
        load_config(path)
    assert not caplog.records
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="caseload"):
        load_config(path)
    assert [r.getMessage() for r in caplog.records] == [
        t("secrets.config_readable", file=path, mode="0o644")]


def test_init_writes_a_private_config(tmp_path):
    cl = Caseload(tmp_path).init(users=[])
    assert oct(cl.config.stat().st_mode & 0o777) == "0o600"
    assert oct(cl.db.stat().st_mode & 0o777) == "0o600"


def test_record_needs_the_head(cl):
    import sqlite3

    conn = sqlite3.connect(cl.db)
    conn.execute("DROP TRIGGER audit_head_keep")
    conn.execute("DELETE FROM audit_head")
    conn.commit()
    conn.close()
    r = cl.run("client", "show", "A1")
    assert r.exit_code == 1 and t("audit.head_missing") in r.output
    assert "Ada" not in r.output  # nothing is shown when the view cannot be recorded
    with pytest.raises(CaseloadError):
        s = store_of(cl)
        try:
            clients.show_client(s, actor(s, "admin1"), "A1")
        finally:
            s.close()
