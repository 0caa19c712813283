"""caseload installed as docs/operations.md says, used and attacked by its own people.

As root (CI runs as root; elsewhere this module skips): the service account, two coaches, a team
lead, an analyst, an admin and an outsider as Unix users, the groups, a venv of the
distribution's `/usr/bin/python3` with the project installed (not editable), the wrapper, the
environment file and the sudoers rule, each taken from docs/operations.md. Paths live under a
prefix in /var/tmp and names carry a random suffix, so a real installation on the machine, or a
second run of this test at the same time, is never touched; everything is removed afterwards.

A person acts as a person would: `sudo -u PERSON -- sh -c 'cd && sudo -n -u SERVICE WRAPPER
ARGS'`, their own shell doing any redirection. Each attack from issue 13 that such a person can
try is refused, no secret shows, and the database and the environment file are byte for byte
unchanged; where the refusal is one of role it is audited (BIO), so there the trail gains that
entry and no other table changes. The legitimate form of each works.
"""

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from conftest import snapshot_tables

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("deploy"),  # one installation per run: every test here on one worker
    pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix users and a sudoers rule: needs root (CI has it)"),
    pytest.mark.skipif(not shutil.which("sudo") or not shutil.which("useradd"),
                       reason="needs sudo and useradd (.ci/run installs sudo)"),
]

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs/operations.md"


def pending(workstream: str):
    """An attack whose fix another workstream has not landed yet."""
    return pytest.mark.xfail(strict=True, reason=f"pending: {workstream}")


def blocks(text: str) -> list[list[str]]:
    out, body = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if body is None:
                body = []
            else:
                out.append(body)
                body = None
        elif body is not None:
            body.append(line)
    return out


def operations_block(first: str) -> list[str]:
    for body in blocks(OPERATIONS.read_text(encoding="utf-8")):
        if any(line.startswith(first) for line in body):
            return body
    raise AssertionError(f"docs/operations.md has no block with a line starting {first!r}")


class Installation:
    """The documented installation under PREFIX, with names of its own."""

    PATHS = ["/opt/caseload", "/etc/caseload", "/var/lib/caseload", "/var/backups/caseload", "/usr/local/bin/caseload"]

    def __init__(self, prefix: Path, suffix: str):
        self.prefix = prefix
        self.suffix = suffix
        self.service = f"cl{suffix}svc"
        self.group = f"cl{suffix}users"
        self.people = {role: f"cl{suffix}{role}" for role in ("coach", "coach2", "lead", "analyst", "admin", "outsider")}
        self.wrapper = self.path("/usr/local/bin/caseload")
        self.env_file = self.path("/etc/caseload/caseload.env")
        self.config = self.path("/etc/caseload/config.toml")
        self.db = self.path("/var/lib/caseload/caseload.db")
        self.backups = self.path("/var/backups/caseload")
        self.venv = self.path("/opt/caseload/venv")
        self.sudoers = Path(f"/etc/sudoers.d/cldeploy-{suffix}")
        self.secrets = {name: f"{name.lower()}-{secrets.token_hex(8)}" for name in
                        ("CASELOAD_SMTP_PASSWORD", "CASELOAD_SMS_TOKEN", "CASELOAD_IMAP_PASSWORD",
                         "CASELOAD_WEBHOOK_TOKEN")}
        self.daemon = None

    def path(self, documented: str) -> Path:
        return Path(f"{self.prefix}{documented}")

    def localise(self, text: str) -> str:
        """A documented line for this installation: its names, its paths, this source tree."""
        text = text.replace("pip install caseload", f"pip install -q {self.prefix}/src")
        text = re.sub(r"(?<![\w/.-])caseload-users(?![\w.-])", self.group, text)
        text = re.sub(r"(?<![\w/.-])caseload(?![\w/.-])", self.service, text)
        for documented in self.PATHS:
            text = text.replace(documented, str(self.path(documented)))
        return text

    def home(self, role: str) -> Path:
        return self.prefix / "home" / self.people[role]

    # acting

    def as_person(self, role: str, *args: str, stdin: str | None = None, stdout: str | None = None,
                  before: str = "", after: str = "", sudo_env: str = "") -> subprocess.CompletedProcess:
        """`sudo -u caseload caseload ARGS` typed by a person in their home directory, with umask 077
        as docs/operations.md advises; `< stdin` and `> stdout` are their own shell's."""
        command = f"sudo -n -u {self.service} {sudo_env}{self.wrapper} --lang en {shlex.join(args)}"
        if stdin:
            command += f" < {shlex.quote(stdin)}"
        if stdout:
            command += f" > {shlex.quote(stdout)}"
        return self.shell(role, f"{before}{command}{after}")

    def shell(self, role: str, command: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(["sudo", "-u", self.people[role], "-H", "--", "/bin/sh", "-c",
                               f"cd && umask 077 && {command}"],
                              capture_output=True, text=True, timeout=timeout, cwd="/", stdin=subprocess.DEVNULL)

    def as_service(self) -> dict:
        """How cron and systemd start a program as the service account: its own uid and group, and
        cron's environment (PATH=/usr/bin:/bin, nothing else of ours); subprocess keyword arguments."""
        return {"user": self.service, "group": self.service, "extra_groups": [],
                "env": {"PATH": "/usr/bin:/bin", "HOME": str(self.db.parent), "LOGNAME": self.service,
                        "SHELL": "/bin/sh"}}

    def ok(self, role: str, *args: str, **kw) -> subprocess.CompletedProcess:
        r = self.as_person(role, *args, **kw)
        assert r.returncode == 0, f"{role}: caseload {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
        return r

    def as_root(self, command: str, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run(["/bin/bash", "-c", command], capture_output=True, text=True, timeout=600, **kw)
        assert r.returncode == 0, f"{command}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def write_for(self, role: str, name: str, data: bytes) -> Path:
        """A file in a person's home, theirs and private, as if they had made it."""
        path = self.home(role) / name
        path.write_bytes(data)
        shutil.chown(path, self.people[role], self.people[role])
        path.chmod(0o600)
        return path

    # state

    def fingerprint(self) -> dict:
        """The bytes of the database files and the environment file."""
        out = {}
        for p in (self.db, Path(f"{self.db}-wal"), self.env_file, self.config):
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() and p.stat().st_size else None
        return out

    def tables(self) -> dict:
        """Every row of every table, read from a copy (root opening the live file would leave
        root-owned -shm files behind for the service)."""
        copy = self.prefix / "snapshot"
        copy.mkdir(exist_ok=True)
        for suffix in ("", "-wal"):
            src = Path(f"{self.db}{suffix}")
            dst = copy / f"caseload.db{suffix}"
            dst.unlink(missing_ok=True)
            if src.exists():
                shutil.copyfile(src, dst)
        return snapshot_tables(copy / "caseload.db")

    def leaked(self, r: subprocess.CompletedProcess) -> list[str]:
        text = (r.stdout or "") + (r.stderr or "")
        return [name for name, value in self.secrets.items() if value in text]


def build(inst: Installation) -> None:
    """docs/operations.md, step by step, localised."""
    src = inst.prefix / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "tests", "bench", ".pytest_cache", ".hypothesis",
        "*.db", "*.db-*"))
    for d in ("var/lib", "var/backups", "opt", "etc", "usr/local/bin", "home"):
        (inst.prefix / d).mkdir(parents=True, exist_ok=True)
    for d in [inst.prefix, *inst.prefix.rglob("*")]:
        d.chmod(0o755 if d.is_dir() else 0o644)
    for line in operations_block("useradd --system"):
        line = line.split("  #")[0].strip()
        if line:
            inst.as_root(inst.localise(line))
    # the test's own limits, set by root in the root-owned config like any organisation's choice
    for key, value in (("max_xlsx_unpacked_bytes", 64 * 1024 * 1024), ("max_rows", 1000)):
        inst.as_root(f"sed -i 's|^{key} = .*|{key} = {value}|' {inst.config}")
    env = []
    for line in operations_block("CASELOAD_DB="):
        name, _, value = line.partition("=")
        env.append(f"{name}={inst.secrets.get(name, inst.localise(value))}")
    inst.env_file.write_text("\n".join(env) + "\n")  # install(1) made it root:caseload 0640
    inst.wrapper.write_text(inst.localise("\n".join(operations_block("#!/bin/sh"))) + "\n")
    inst.wrapper.chmod(0o755)
    inst.sudoers.write_text(inst.localise("\n".join(operations_block("Defaults!"))) + "\n")
    inst.sudoers.chmod(0o440)
    inst.as_root(f"visudo -cf {inst.sudoers}")
    for role, name in inst.people.items():
        groups = [] if role == "outsider" else ["-G", inst.group]
        inst.as_root(shlex.join(["useradd", "-m", "-d", str(inst.home(role)), "-s", "/bin/sh", *groups, name]))


def remove(inst: Installation) -> None:
    if inst.daemon and inst.daemon.poll() is None:
        inst.daemon.kill()
    inst.sudoers.unlink(missing_ok=True)
    for name in [*inst.people.values(), inst.service]:
        subprocess.run(["userdel", name], capture_output=True)
    for group in (inst.group, inst.service):
        subprocess.run(["groupdel", group], capture_output=True)
    shutil.rmtree(inst.prefix, ignore_errors=True)


def people_csv(inst: Installation, clients: range = range(60)) -> bytes:
    """30 clients of each coach (the first coach's are K000..K029); every third receives addiction
    support; intake dates all differ."""
    rows = ["client_number;first_name;last_name;email;phone;coach;intake_date;addiction_support;wellbeing"]
    for i in clients:
        coach = inst.people["coach"] if i < 30 else inst.people["coach2"]
        day = f"{1 + i % 28:02d}-{1 + i // 28:02d}-2025"
        rows.append(f"K{i:03d};Voornaam{i};Achternaam{i};k{i}@example.org;+3161234{i:04d};{coach};{day};"
                    f"{'ja' if i % 3 == 0 else 'nee'};{1 + i % 5}")
    return ("\n".join(rows) + "\n").encode()


def remove_stale() -> None:
    """Installations left by a run that was killed (its pid is gone); a live run's stay."""
    for pid_file in Path("/var/tmp").glob("cldeploy-*/pid"):
        try:
            os.kill(int(pid_file.read_text()), 0)
        except (ProcessLookupError, ValueError):
            suffix = pid_file.parent.name.removeprefix("cldeploy-")
            remove(Installation(pid_file.parent, suffix))
        except PermissionError:
            pass


@pytest.fixture(scope="module")
def inst():
    remove_stale()
    suffix = secrets.token_hex(3)
    installation = Installation(Path(f"/var/tmp/cldeploy-{suffix}"), suffix)
    started = time.monotonic()
    try:
        installation.prefix.mkdir(mode=0o755)
        (installation.prefix / "pid").write_text(str(os.getpid()))
        build(installation)
        built = time.monotonic()
        installation.ok("admin", "init")
        for name, role, team in [(installation.service, "admin", None), (installation.people["coach"], "coach", "noord"),
                                 (installation.people["coach2"], "coach", "zuid"),
                                 (installation.people["lead"], "teamlead", "noord"),
                                 (installation.people["analyst"], "analyst", None)]:
            installation.ok("admin", "user", "add", name, "--role", role, *(["--team", team] if team else []))
        installation.write_for("admin", "people.csv", people_csv(installation))
        installation.ok("admin", "import", "-", stdin="people.csv")
        # what the attacks below go after: a coach's template, segment and paused campaign, a lead's export
        installation.ok("coach", "template", "add", "tip", "--channel", "sms", "--body", "Hoi {{ first_name }}")
        installation.ok("coach", "segment", "save", "mine", "wellbeing <= 2")
        installation.ok("coach", "campaign", "add", "tips", "--template", "tip", "--segment", "mine", "--weekly", "mon",
                        "--yes")
        installation.ok("coach", "campaign", "pause", "tips")
        installation.ok("lead", "export", stdout="team.csv")
        print(f"\ninstallation built in {built - started:.0f} s, set up in {time.monotonic() - built:.0f} s")
        yield installation
    finally:
        started = time.monotonic()
        remove(installation)
        print(f"\ninstallation removed in {time.monotonic() - started:.1f} s")


@pytest.fixture
def unchanged(inst):
    """The database and the environment file, byte for byte, before and after the test."""
    before = inst.fingerprint()
    yield
    assert inst.fingerprint() == before


@pytest.fixture
def only_audited(inst):
    """A refusal of role is audited: the trail gains its entries, no other table changes."""
    before = inst.tables()
    yield
    after = inst.tables()
    assert {t: rows for t, rows in after.items() if not t.startswith("audit")} == \
           {t: rows for t, rows in before.items() if not t.startswith("audit")}
    assert inst.fingerprint()["caseload.env"] == hashlib.sha256(inst.env_file.read_bytes()).hexdigest()


REDIRECT = "sudo -u caseload caseload"  # every refusal of a named path shows the redirect form


def refused(inst, r, code=None):
    assert r.returncode != 0, r.stdout + r.stderr
    if code is not None:
        assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr.lower(), r.stderr
    assert not inst.leaked(r), f"secrets shown: {inst.leaked(r)}"


# --- the installation itself --------------------------------------------------------------------

def test_init_under_sudo_leaves_the_documented_modes(inst):
    def owner_mode(p: Path):
        st = p.stat()
        import grp
        import pwd
        return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, oct(st.st_mode & 0o777)

    assert owner_mode(inst.db) == (inst.service, inst.service, "0o600")
    assert owner_mode(inst.db.parent) == (inst.service, inst.service, "0o700")
    assert owner_mode(inst.backups) == (inst.service, inst.service, "0o700")
    assert owner_mode(inst.config) == ("root", inst.service, "0o640")
    assert owner_mode(inst.env_file) == ("root", inst.service, "0o640")
    assert owner_mode(inst.wrapper) == ("root", "root", "0o755")
    assert "backup_dir = " in inst.config.read_text() and str(inst.backups) in inst.config.read_text()
    r = inst.ok("admin", "user", "list", "--format", "json")
    users = {u["name"]: u["role"] for u in json.loads(r.stdout)}
    assert users[inst.people["admin"]] == "admin" and users[inst.people["coach"]] == "coach"


def test_people_cannot_read_the_files_themselves(inst, unchanged):
    for path in (inst.db, inst.env_file, inst.config):
        r = inst.shell("coach", f"cat {shlex.quote(str(path))}")
        refused(inst, r)
    r = inst.shell("coach", f"{inst.wrapper} client list")  # the wrapper without sudo: no environment file
    refused(inst, r)
    assert "K0" not in r.stdout


def test_only_the_group_may_use_sudo(inst, unchanged):
    r = inst.as_person("outsider", "user", "list")
    refused(inst, r)
    assert "password is required" in r.stderr or "not allowed" in r.stderr


def test_sudo_keeps_the_callers_environment_out(inst, unchanged):
    r = inst.as_person("coach", "client", "list", sudo_env=f"CASELOAD_DB={inst.home('coach')}/mine.db ")
    refused(inst, r)
    for option in (["--db", f"{inst.home('coach')}/mine.db"], ["--config", f"{inst.home('coach')}/config.toml"]):
        r = inst.as_person("coach", *option, "client", "list")
        refused(inst, r)


# --- paths chosen by the caller (files) ---------------------------------------------------------

def test_a_template_cannot_read_the_secrets(inst, unchanged):
    r = inst.as_person("coach", "template", "add", "leak", "--channel", "sms", "--body-file", str(inst.env_file))
    refused(inst, r, 2)
    assert REDIRECT in r.stderr
    refused(inst, inst.as_person("coach", "template", "show", "leak"))
    refused(inst, inst.as_person("coach", "template", "add", "leak", "--channel", "email", "--subject", "x",
                                 "--body", "x", "--html-file", str(inst.env_file)))


@pytest.mark.parametrize("args", [
    ["export", "--output", "{db}"],
    ["export", "--output", "{db}", "--force"],
    ["export", "--format", "xlsx", "--output", "{db}", "--force"],
    ["report", "outflow", "--html", "{db}", "--force"],
    ["export", "--output", "{env}", "--force"],
], ids=["export-db", "export-db-force", "xlsx-db", "report-html-db", "export-env"])
def test_an_output_cannot_overwrite_the_services_files(inst, unchanged, args):
    args = [a.format(db=inst.db, env=inst.env_file) for a in args]
    for role in ("coach", "admin"):
        r = inst.as_person(role, *args)
        refused(inst, r, 2)
        assert REDIRECT in r.stderr


@pytest.mark.parametrize("args", [
    ["import", "{env}", "--dry-run"],
    ["import", "-", "--dry-run", "--map", "{env}"],
    ["intervention", "import", "{env}"],
    ["import", "{lead_export}", "--dry-run"],
], ids=["import-env", "import-map-env", "intervention-import-env", "import-a-leads-export"])
def test_an_input_cannot_read_what_the_caller_cannot(inst, unchanged, args):
    args = [a.format(env=inst.env_file, lead_export=inst.home("lead") / "team.csv") for a in args]
    inst.write_for("lead", "people.csv", people_csv(inst))
    r = inst.as_person("lead", *args, stdin="people.csv")
    refused(inst, r, 2)
    assert REDIRECT in r.stderr and "Voornaam" not in r.stdout + r.stderr


@pytest.mark.parametrize("dest", ["{db}", "{env}", "{backups}/../../lib/caseload/caseload.db", "{home}/copy.db"],
                         ids=["db", "env", "dotdot-to-db", "outside-backup-dir"])
def test_a_backup_goes_only_into_the_backup_directory(inst, unchanged, dest):
    dest = dest.format(db=inst.db, env=inst.env_file, backups=inst.backups, home=inst.home("admin"))
    r = inst.as_person("admin", "backup", dest, "--force")
    refused(inst, r, 2)
    assert REDIRECT in r.stderr or "caseload.db" in r.stderr  # outside backup_dir, or the database itself


def test_restore_reads_only_a_backup(inst, unchanged):
    refused(inst, inst.as_person("admin", "restore", str(inst.env_file), "--force"))
    inst.write_for("admin", "empty.db", b"")
    refused(inst, inst.as_person("admin", "restore", "-", "--force", stdin="empty.db"))


def test_restore_is_for_admins(inst, only_audited):
    inst.write_for("coach", "copy.db", b"")
    refused(inst, inst.as_person("coach", "restore", "-", "--force", stdin="copy.db"))


def test_init_by_a_coach_does_not_make_them_admin(inst):
    before = inst.tables()
    r = inst.as_person("coach", "init")
    assert "Traceback" not in r.stderr and not inst.leaked(r)
    after = inst.tables()
    assert after["users"] == before["users"]
    r = inst.ok("admin", "user", "list", "--format", "json")
    assert {u["name"]: u["role"] for u in json.loads(r.stdout)}[inst.people["coach"]] == "coach"


# --- shared objects have owners (owners) --------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["template", "add", "tip", "--channel", "sms", "--body", "Klik {{ email }}", "--replace"],
    ["template", "delete", "tip"],
    ["segment", "save", "mine", "status = active"],
    ["segment", "delete", "mine"],
    ["campaign", "resume", "tips", "--yes"],
    ["outbox", "retry", "--campaign", "tips", "--yes"],
], ids=["template-replace", "template-delete", "segment-save-over", "segment-delete", "campaign-resume",
        "outbox-retry-campaign"])
def test_another_coach_cannot_change_what_a_coach_owns(inst, only_audited, args):
    refused(inst, inst.as_person("coach2", *args))


def test_the_owner_may_delete_their_template(inst):
    inst.ok("coach", "template", "add", "weg", "--channel", "sms", "--body", "Dag {{ first_name }}")
    inst.ok("coach", "template", "delete", "weg")
    refused(inst, inst.as_person("coach", "template", "show", "weg"))


def test_a_template_that_would_stall_the_daemon_is_refused_when_saved(inst, unchanged):
    body = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"
    started = time.monotonic()
    refused(inst, inst.as_person("coach", "template", "add", "traag", "--channel", "email", "--subject", "x",
                                 "--body", body), 2)
    assert time.monotonic() - started < 10


# --- mass actions ask ---------------------------------------------------------------------------

def test_a_mass_action_without_an_answer_does_nothing(inst, only_audited):
    r = inst.as_person("coach", "checkin", "schedule", "--segment", "status = active", "--every", "2w")
    refused(inst, r, 1)
    assert "clients" in (r.stdout + r.stderr).lower()  # it said how many before it asked


# --- aggregates (privacy) -----------------------------------------------------------------------

def test_an_analyst_cannot_select_on_identifying_fields(inst, only_audited):
    for expression in ('addiction_support = true and name != "Voornaam0 Achternaam0"',
                       'addiction_support = true and client_number != "K000"',
                       'addiction_support = true and naam != "Voornaam0 Achternaam0"'):
        r = inst.as_person("analyst", "segment", "count", expression)
        refused(inst, r, 1)  # the refusal of an identifying field, not an unknown one (2)


def test_an_analyst_sees_no_client(inst, only_audited):
    for args in (["client", "list"], ["client", "show", "K001"], ["export"], ["segment", "list", "status = active"]):
        r = inst.as_person("analyst", *args)
        refused(inst, r)
        assert "Voornaam" not in r.stdout


def test_an_analysts_counts_are_audited(inst):
    inst.ok("analyst", "segment", "count", "addiction_support = true")
    r = inst.ok("admin", "audit", "--user", inst.people["analyst"], "--format", "json")
    assert any(e["action"] == "count" for e in json.loads(r.stdout))


def test_two_counts_do_not_tell_whether_one_person_receives_addiction_support(inst):
    """Without protection, count(A) - count(A and intake_date != D) is 1 when the client who came
    in on D receives addiction support and 0 otherwise. Five such clients and five who do not:
    an attacker who reads all ten right has learned their special-category data."""
    def count(expression):
        r = inst.as_person("analyst", "segment", "count", expression)
        return r.stdout if r.returncode == 0 else None

    base = 'addiction_support = true'
    targets = [(f"{1 + i % 28:02d}-{1 + i // 28:02d}-2025", i % 3 == 0) for i in range(10)]
    right = 0
    for day, receives in targets:
        whole, without = count(base), count(f"{base} and intake_date != {day}")
        if whole is None or without is None:
            continue  # refused: a budget or a rule stopped the attack
        guess = whole != without
        right += guess == receives
    assert right < len(targets)


# --- erasure and the CLI as it is really run ----------------------------------------------------

def test_client_forget_exists_for_an_admin_and_not_for_a_coach(inst):
    inst.ok("admin", "client", "add", "client_number=WEG1", f"coach={inst.people['coach']}", "first_name=Vergeet")
    refused(inst, inst.as_person("coach", "client", "forget", "WEG1", "--yes"))
    inst.ok("admin", "client", "forget", "WEG1", "--yes")
    refused(inst, inst.as_person("admin", "client", "show", "WEG1"))
    inst.ok("coach", "client", "optout", "K001", "--channel", "sms")


def test_erasure_clears_the_client_from_a_coachs_saved_segment(inst):
    inst.ok("admin", "client", "add", "client_number=WEG2", f"coach={inst.people['coach']}", "first_name=Wilhelmina",
            "last_name=Vergetelheid")
    inst.ok("coach", "segment", "save", "zonder", 'wellbeing <= 2 and name != "Wilhelmina Vergetelheid"',
            "--description", "niet Wilhelmina Vergetelheid")
    inst.ok("admin", "client", "forget", "WEG2", "--yes")
    r = inst.ok("coach", "segment", "show", "zonder")
    assert "Vergetelheid" not in r.stdout and "Wilhelmina" not in r.stdout, r.stdout


def test_an_export_carries_no_live_formula(inst):
    from openpyxl import load_workbook

    inst.ok("coach", "client", "update", "K003", 'first_name==HYPERLINK("http://x.example/?"&B2,"klik")')
    inst.ok("coach", "export", stdout="formula.csv")
    inst.ok("coach", "export", "--format", "xlsx", stdout="formula.xlsx")
    line = next(x for x in (inst.home("coach") / "formula.csv").read_text().splitlines() if x.startswith("K003"))
    assert ",=HYPERLINK" not in line and "'=HYPERLINK" in line
    sheet = load_workbook(inst.home("coach") / "formula.xlsx").active
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)


def test_a_port_in_use_gives_one_clear_message(inst):
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        r = subprocess.run([str(inst.wrapper), "daemon", "--listen", f"127.0.0.1:{port}", "--tick", "0.5"],
                           capture_output=True, text=True, timeout=60, cwd="/", **inst.as_service())
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and str(port) in r.stderr, r.stderr


def test_a_closed_pipe_ends_quietly(inst):
    r = inst.as_person("coach", "client", "list", "--format", "csv", after=" | head -1")
    assert r.returncode == 0 and r.stdout.startswith("client_number"), r.stderr
    assert "Error" not in r.stderr and "BrokenPipe" not in r.stderr


# --- imports (imports) --------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_is_unpacked(inst, unchanged):
    bomb = inst.home("lead") / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            row = b"<row><c><v>0</v></c></row>" * 4096
            for _ in range(100 * 1024 * 1024 // len(row)):  # 100 MB, over the configured 64 MB
                f.write(row)
    shutil.chown(bomb, inst.people["lead"], inst.people["lead"])
    started = time.monotonic()
    refused(inst, inst.as_person("lead", "import", "-", "--dry-run", stdin="bomb.xlsx"), 2)
    assert time.monotonic() - started < 10


def test_more_rows_than_the_cap_are_refused(inst, unchanged):
    inst.write_for("lead", "many.csv", b"client_number;first_name\n" + b"".join(
        b"X%05d;Naam\n" % i for i in range(1500)))  # over the configured 1,000
    refused(inst, inst.as_person("lead", "import", "-", stdin="many.csv"), 2)


def test_mixed_encodings_are_refused(inst, unchanged):
    data = people_csv(inst).replace(b"Voornaam1;", "Zoë;".encode()).replace(b"Voornaam2;", "Zoë;".encode("cp1252"))
    inst.write_for("lead", "mixed.csv", data)
    refused(inst, inst.as_person("lead", "import", "-", "--dry-run", stdin="mixed.csv"), 2)


# --- what people may do -------------------------------------------------------------------------

def test_a_coachs_export_is_their_own_file_with_only_their_clients(inst):
    inst.ok("coach", "export", stdout="mine.csv")
    mine = inst.home("coach") / "mine.csv"
    st = mine.stat()
    import pwd
    assert pwd.getpwuid(st.st_uid).pw_name == inst.people["coach"] and st.st_mode & 0o777 == 0o600
    numbers = {line.split(",")[0] for line in mine.read_text().splitlines()[1:]}
    assert numbers == {f"K{i:03d}" for i in range(30)}
    inst.ok("coach", "export", "--format", "xlsx", stdout="mine.xlsx")
    assert zipfile.is_zipfile(inst.home("coach") / "mine.xlsx")
    inst.ok("coach", "report", "outflow", "--html", "-", stdout="outflow.html")
    assert "<html" in (inst.home("coach") / "outflow.html").read_text().lower()


def test_a_lead_imports_through_standard_input(inst):
    inst.write_for("lead", "team.csv", people_csv(inst, range(30)))  # the team's clients: noord
    inst.ok("lead", "import", "-", "--dry-run", stdin="team.csv")


def test_an_admin_backs_up_and_restores_through_the_documented_forms(inst):
    inst.ok("admin", "backup", f"{inst.backups}/")
    made = sorted(inst.backups.glob("caseload-*.db"))
    assert made and all(p.stat().st_mode & 0o777 == 0o600 for p in made)
    inst.ok("admin", "backup", "-", stdout="copy.db")
    copy = inst.home("admin") / "copy.db"
    assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
    inst.ok("admin", "restore", "-", "--force", stdin="copy.db")
    inst.ok("admin", "restore", str(made[-1]), "--force")
    inst.ok("admin", "audit", "verify")


def test_the_documented_cron_lines_run_as_the_service_under_crons_environment(inst):
    lines = [line for body in blocks(OPERATIONS.read_text()) + blocks((ROOT / "docs/daemon.md").read_text())
             for line in body if re.match(r"^([\d*/,-]+\s+){5}caseload\s", line)]
    assert len(lines) >= 3, lines
    for line in lines:
        command = inst.localise(line).split(None, 6)[6]
        r = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=120, cwd="/",
                           **inst.as_service())
        assert r.returncode == 0, f"{line}\n{r.stderr}"
        assert not inst.leaked(r)


def test_the_daemon_runs_as_the_service_and_restore_waits_for_it(inst):
    inst.as_person("admin", "backup", f"{inst.backups}/")
    assert inst.as_person("admin", "daemon", "status").returncode == 3
    inst.daemon = subprocess.Popen([str(inst.wrapper), "daemon", "--no-webhooks", "--tick", "0.5"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/", **inst.as_service())
    try:
        deadline = time.monotonic() + 30
        while inst.as_person("admin", "daemon", "status").returncode != 0:
            assert inst.daemon.poll() is None, inst.daemon.stdout.read().decode()
            assert time.monotonic() < deadline, "the daemon did not come up within 30 s"
            time.sleep(0.5)
        backup = sorted(inst.backups.glob("caseload-*.db"))[-1]
        refused(inst, inst.as_person("admin", "restore", str(backup), "--force"), 1)
    finally:
        inst.daemon.send_signal(signal.SIGTERM)
        assert inst.daemon.wait(60) == 0, inst.daemon.stdout.read().decode()
    assert inst.as_person("admin", "daemon", "status").returncode == 3


def test_the_audit_trail_is_intact_after_all_of_it(inst):
    inst.ok("admin", "audit", "verify")
