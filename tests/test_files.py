"""Paths a person names: under sudo only - (stdin/stdout); run directly, outputs never overwrite
without --force, never follow a link, are created 0600 and are never caseload's own files."""

import csv
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from caseload.cli import main
from caseload.i18n import t
from privacy import PERSONS, Caseload

A = PERSONS[0]


@pytest.fixture
def cl(tmp_path):
    return Caseload(tmp_path).with_people()


def sudo_env(cl, user: str) -> dict:
    """What the wrapper and sudo set up: the service's files from the environment, and a caller
    whose uid differs from ours."""
    return {"SUDO_USER": user, "SUDO_UID": str(os.geteuid() + 1), "CASELOAD_DB": str(cl.db),
            "CASELOAD_CONFIG": str(cl.config), "CASELOAD_LOG": "WARNING", "LANG": "en_US.UTF-8"}


def sudo(cl, *args, user="admin1", input=None):
    """`sudo -u caseload caseload ARGS` as USER, in-process (no --db or --config: refused under sudo)."""
    return CliRunner().invoke(main, ["--lang", "en", *map(str, args)], env=sudo_env(cl, user), input=input)


def set_backup_dir(cl, backups: Path) -> None:
    text = cl.config.read_text()
    assert 'backup_dir = ""' in text
    cl.config.write_text(text.replace('backup_dir = ""', f'backup_dir = "{backups}"'))


def flat(text: str) -> str:
    return " ".join(text.split())


def secret_file(cl) -> Path:
    path = cl.dir / "caseload.env"
    path.write_text("CASELOAD_SMTP_PASSWORD=hunter2-very-secret\n")
    os.chmod(path, 0o640)
    return path


# --- the attacks of issue 13 --------------------------------------------------------------------

def test_under_sudo_a_template_body_file_is_not_read(cl):
    secret = secret_file(cl)
    for option in ("--body-file", "--html-file"):
        extra = ["--body", "hi"] if option == "--html-file" else []
        r = sudo(cl, "template", "add", "x", "--channel", "email", "--subject", "s", *extra, option, secret,
                 user="coach1")
        assert r.exit_code == 2, r.output
        assert "hunter2" not in r.output and "< " in r.output
    shown = sudo(cl, "template", "show", "x", user="coach1")
    assert "hunter2" not in shown.output
    # the legitimate form: the caller's shell opens the file, caseload reads stdin
    r = sudo(cl, "template", "add", "x", "--channel", "sms", "--body-file", "-", user="coach1",
             input="Hoi {{ first_name }}, tot morgen.")
    assert r.exit_code == 0, r.output
    assert "tot morgen" in sudo(cl, "template", "show", "x", user="coach1").stdout


def test_export_over_the_database_is_refused_and_the_database_is_unchanged(cl):
    before = cl.db.read_bytes()
    for extra in ([], ["--force"], ["--format", "xlsx"], ["--format", "xlsx", "--force"]):
        r = cl.run("export", "--output", cl.db, *extra)
        assert r.exit_code == 2, (extra, r.output)
        assert str(cl.db) in flat(r.output)
        assert cl.db.read_bytes() == before
    assert "nothing was half-written" not in r.output.lower()
    cl.ok("client", "show", A["client_number"])


def test_report_html_over_the_database_is_refused(cl):
    before = cl.db.read_bytes()
    for extra in ([], ["--force"]):
        r = cl.run("report", "outflow", "--html", cl.db, *extra)
        assert r.exit_code == 2, r.output
        assert cl.db.read_bytes() == before


def test_under_sudo_outputs_go_only_to_stdout(cl):
    mine = cl.dir / "mine.csv"
    for args in (["export", "--output", mine], ["export", "--format", "xlsx", "--output", mine],
                 ["report", "caseload", "--html", mine]):
        r = sudo(cl, *args, user="coach1")
        assert r.exit_code == 2 and "> " in r.output, (args, r.output)
        assert not mine.exists()
    r = sudo(cl, "export", user="coach1")
    assert r.exit_code == 0, r.output
    numbers = {row["client_number"] for row in csv.DictReader(io.StringIO(r.stdout))}
    assert numbers == {p["client_number"] for p in PERSONS if p["coach"] == "coach1"}
    assert sudo(cl, "export", "--output", "-", user="coach1").stdout == r.stdout


def test_xlsx_and_html_to_stdout(cl):
    r = CliRunner().invoke(main, ["--lang", "en", "export", "--format", "xlsx", "--output", "-"],
                           env=sudo_env(cl, "coach1"))
    assert r.exit_code == 0, r.output
    ws = openpyxl.load_workbook(io.BytesIO(r.stdout_bytes)).active
    assert ws.max_row == 3
    r = sudo(cl, "report", "caseload", "--html", "-")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("<!DOCTYPE html>")


# --- outputs run directly, by an administrator --------------------------------------------------

def test_outputs_never_overwrite_and_are_private(cl):
    out = cl.dir / "out.csv"
    cl.ok("export", "--output", out)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    first = out.read_bytes()
    out.write_text("keep me")
    r = cl.run("export", "--output", out)
    assert r.exit_code == 2 and "--force" in r.output and out.read_text() == "keep me"
    cl.ok("export", "--output", out, "--force")
    assert out.read_bytes() == first and oct(out.stat().st_mode & 0o777) == "0o600"


def test_outputs_do_not_follow_links(cl, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    link = cl.dir / "link.csv"
    link.symlink_to(victim)
    dangling = cl.dir / "dangling.csv"
    dangling.symlink_to(tmp_path / "made-through-the-link.csv")
    for target in (link, dangling):
        for extra in ([], ["--force"]):
            r = cl.run("export", "--output", target, *extra)
            assert r.exit_code == 2, r.output
    assert victim.read_text() == "untouched" and not (tmp_path / "made-through-the-link.csv").exists()


@pytest.mark.parametrize("name", ["wal", "shm", "journal", "config", "hardlink", "symlink_dir", "backup", "lock"])
def test_caseloads_own_files_are_refused(cl, tmp_path, name):
    backups = tmp_path / "backups"
    backups.mkdir()
    set_backup_dir(cl, backups)
    cl.ok("backup", backups / "b.db")
    (cl.dir / "caseload.db-journal").write_bytes(b"")
    hard = tmp_path / "hard.db"
    os.link(cl.db, hard)
    (tmp_path / "via").symlink_to(cl.dir)
    target = {"wal": Path(f"{cl.db}-wal"), "shm": Path(f"{cl.db}-shm"), "journal": Path(f"{cl.db}-journal"),
              "config": cl.config, "hardlink": hard, "symlink_dir": tmp_path / "via" / "caseload.db",
              "backup": backups / "new.csv", "lock": Path(f"{cl.db}.daemon.lock")}[name]
    before = {p: p.read_bytes() for p in (cl.db, cl.config, backups / "b.db") if p.exists()}
    r = cl.run("export", "--output", target, "--force")
    assert r.exit_code == 2, r.output
    assert "caseload" in r.output and not (backups / "new.csv").exists()
    assert {p: p.read_bytes() for p in before} == before


def test_a_failed_export_leaves_no_file(cl, monkeypatch):
    from caseload import exporter

    def broken(rows, out=None):
        out.write("half a row")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(exporter, "write_csv", broken)
    out = cl.dir / "out.csv"
    r = cl.run("export", "--output", out)
    assert r.exit_code == 1 and not out.exists()
    out.write_text("old")
    r = cl.run("export", "--output", out, "--force")
    assert r.exit_code == 1 and out.read_text() == "old"
    assert not list(cl.dir.glob(".*partial*"))


# --- backup and restore under sudo --------------------------------------------------------------

def test_under_sudo_backup_and_restore_stay_in_the_backup_dir_or_stream(cl, tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = sudo(cl, "backup", elsewhere)
    assert r.exit_code == 2 and "daemon.backup_dir" in flat(r.output) and not list(elsewhere.iterdir())
    set_backup_dir(cl, backups)
    r = sudo(cl, "backup", elsewhere / "b.db")
    assert r.exit_code == 2 and not list(elsewhere.iterdir())
    r = sudo(cl, "backup", backups)
    assert r.exit_code == 0, r.output
    made = list(backups.glob("caseload-*.db"))
    assert len(made) == 1
    r = CliRunner().invoke(main, ["--lang", "en", "backup", "-"], env=sudo_env(cl, "admin1"))
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes.startswith(b"SQLite format 3\x00")
    streamed = r.stdout_bytes
    for user in ("coach1", "analyst1"):  # admins only, also as a stream
        r = CliRunner().invoke(main, ["--lang", "en", "backup", "-"], env=sudo_env(cl, user))
        assert r.exit_code == 1 and not r.stdout_bytes
    # restore: a named file only from the backup dir, else stdin
    copy = elsewhere / "copy.db"
    copy.write_bytes(made[0].read_bytes())
    r = sudo(cl, "restore", copy, "--force")
    assert r.exit_code == 2 and "< " in r.output
    assert sudo(cl, "client", "add", "client_number=LATER", "coach=coach1").exit_code == 0
    r = CliRunner().invoke(main, ["--lang", "en", "restore", "-", "--force"], env=sudo_env(cl, "admin1"),
                           input=streamed)
    assert r.exit_code == 0, r.output
    assert "LATER" not in sudo(cl, "export").stdout
    assert sudo(cl, "restore", made[0], "--force").exit_code == 0
    assert not [p for p in cl.dir.iterdir() if "partial" in p.name or p.name.startswith(".caseload")]


# --- a fresh process, through the installed console script ----------------------------------------

def console(cl, *args, user="coach1", stdin=None):
    exe = Path(sys.executable).parent / "caseload"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SUDO_", "CASELOAD_"))},
           **sudo_env(cl, user)}
    return subprocess.run([str(exe), "--lang", "en", *map(str, args)], env=env, input=stdin,
                          capture_output=True, timeout=120)


def test_the_console_script_under_sudo(cl):
    secret = secret_file(cl)
    before = cl.db.read_bytes()
    r = console(cl, "template", "add", "x", "--channel", "sms", "--body-file", secret)
    assert r.returncode == 2 and b"hunter2" not in r.stdout + r.stderr
    r = console(cl, "export", "--output", cl.db)
    assert r.returncode == 2 and cl.db.read_bytes() == before
    r = console(cl, "report", "outflow", "--html", cl.db, user="admin1")
    assert r.returncode == 2 and cl.db.read_bytes() == before
    r = console(cl, "export", "--format", "xlsx")
    assert r.returncode == 0, r.stderr
    assert openpyxl.load_workbook(io.BytesIO(r.stdout)).active.max_row == 3


# --- the database is never silently replaced --------------------------------------------------------

@pytest.mark.parametrize("content", [b"", b"<!DOCTYPE html><html>a report</html>\n"])
def test_an_empty_or_foreign_database_file_is_refused_never_migrated(cl, content):
    cl.db.write_bytes(content)
    for name in ("-wal", "-shm"):
        Path(f"{cl.db}{name}").unlink(missing_ok=True)
    for args, user in ((["client", "list"], "admin1"), (["init"], "coach1"), (["init"], "admin1")):
        r = cl.run(*args, user=user)
        assert r.exit_code == 1, (args, r.output)
        assert str(cl.db) in flat(r.output)
        assert cl.db.read_bytes() == content
    r = sudo(cl, "init", user="coach1")
    assert r.exit_code == 1 and cl.db.read_bytes() == content


def test_init_registers_a_first_admin_only_in_a_database_it_creates(cl):
    conn = sqlite3.connect(cl.db)
    conn.execute("DELETE FROM users")  # say, a database whose users were lost
    conn.commit()
    conn.close()
    r = cl.run("init", user="coach1")
    assert r.exit_code == 1 and str(cl.db) in flat(r.output)
    conn = sqlite3.connect(cl.db)
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    conn.close()


def test_restore_refuses_while_a_daemon_holds_the_database(cl):
    from caseload.daemon.loop import Lock

    cl.ok("backup", cl.dir / "b.db")
    before = cl.db.read_bytes()
    lock = Lock(cl.db)
    assert lock.acquire()
    try:
        r = cl.run("restore", cl.dir / "b.db", "--force")
        assert r.exit_code == 1 and "daemon" in r.output
        assert cl.db.read_bytes() == before
    finally:
        lock.release()
    cl.ok("restore", cl.dir / "b.db", "--force")


def test_init_under_sudo_writes_no_config_and_says_what_to_do(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    lib = tmp_path / "lib"
    lib.mkdir(mode=0o700)
    env = {"SUDO_USER": "beheer", "SUDO_UID": str(os.geteuid() + 1), "CASELOAD_DB": str(lib / "caseload.db"),
           "CASELOAD_CONFIG": str(etc / "config.toml")}
    r = CliRunner().invoke(main, ["--lang", "en", "init"], env=env)
    assert r.exit_code == 0, r.output
    assert not (etc / "config.toml").exists() and "--print-config" in r.output
    assert "Registered beheer as the first admin" in r.output
    printed = CliRunner().invoke(main, ["init", "--print-config"], env=env)
    assert printed.exit_code == 0 and "[daemon]" in printed.stdout
    (etc / "config.toml").write_text(printed.stdout)
    r = CliRunner().invoke(main, ["--lang", "en", "user", "list"], env=env)
    assert r.exit_code == 0 and "beheer" in r.stdout


def test_a_file_error_names_the_file(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    db = blocker / "caseload.db"
    r = CliRunner().invoke(main, ["--lang", "en", "--db", str(db), "--config", str(tmp_path / "c.toml"), "init"],
                           env={"SUDO_USER": "x", "SUDO_UID": ""})
    assert r.exit_code == 1 and str(blocker) in r.output and "Traceback" not in r.output
