"""Every CLI command, run as every role (and as an unknown and a disabled user), is allowed or
refused as the table below says.

Commands are found by walking `caseload.cli.main`, so a command added later is in the matrix
at once: it gets arguments made up from its parameter names and the default rule for its
group (client data: coaches, team leads and admins; reports: everyone with a role; users,
audit, retention, backup: admins). Give a new command its own ARGS and EXPECTED entry when
the defaults do not fit. The TUI's screens have their own matrix in the TUI tests.
"""

import shutil
import signal
import sqlite3
from pathlib import Path

import click
import pytest

from caseload.cli import load_all, main
from caseload.i18n import t
from privacy import Caseload, write_people_csv

load_all()

ROLES = {"admin": "admin1", "teamlead": "lead1", "coach": "coach1", "analyst": "analyst1"}
NOBODY = {"unknown": "nobody", "disabled": "gone"}
EVERYONE = set(ROLES)
STAFF = {"admin", "teamlead", "coach"}  # who may see individual clients
ADMIN = {"admin"}

# Who may run what. Unknown and disabled users are refused everything that needs a user.
EXPECTED = {
    "init": EVERYONE,  # registers the first admin of an empty database only; otherwise says it is ready
    "demo": ADMIN,  # with --force on an existing database: throwing it away is an admin's call
    "import": {"admin", "teamlead"},
    "intervention import": {"admin", "teamlead"},
    "client forget": ADMIN,
    "client reassign": {"admin", "teamlead"},  # handing clients over when a coach leaves
    "segment check": EVERYONE,  # checks an expression, reads no client
    "segment count": EVERYONE,  # an aggregate, suppressed below the minimum cell size
    "segment saved": EVERYONE,
    "segment show": EVERYONE,
    "segment save": EVERYONE,  # a definition, not client data
    "segment split": EVERYONE,  # fixed groups an analyst compares in reports; members stay hidden
    "segment delete": ADMIN,  # the fixture's segment is the admin's: its owner, their team lead or an admin
    "template delete": ADMIN,  # the same for the fixture's template
    "report attention": STAFF,  # names clients who need a coach
    "attention deliveries": ADMIN,  # delivery failures are system problems: the administrator's list
    "template list": EVERYONE,  # templates hold no personal data
    "template show": EVERYONE,
    "checkin languages": EVERYONE,  # which translations caseload has: no client data
    "send": ADMIN,  # the outbox run; cron and the daemon act as the service's admin
    "daemon": ADMIN,
    "daemon status": ADMIN,
    "tui": EVERYONE,  # each role sees its own screens: the TUI's tests hold that matrix
    "item expire": ADMIN,  # the fixture's item is the admin's: its owner, their team lead or an admin
}
# Known gaps, each a strict xfail: when it is fixed the test says so, and the line goes.
KNOWN_GAPS = {
}
GROUP_DEFAULTS = {
    "report": EVERYONE,
    "user": ADMIN, "audit": ADMIN, "retention": ADMIN, "backup": ADMIN, "restore": ADMIN,
}
UNGATED = {"init"}  # runs without a registered user
LONG_RUNNING = {"daemon", "tui"}  # allowed roles are tested by their own tests, not started here

CLIENT, OTHER_TEAM = "C1", "C2"  # coach1 (team-a) and coach2 (team-b)
ARGS = {
    "init": [],
    "demo": ["--force", "--clients", "5"],
    "import": ["{dir}/people.csv"],
    "export": ["--output", "{tmp}/out.csv"],
    "client list": [],
    "client show": [CLIENT],
    "client add": ["client_number=N9", "coach={user}"],
    "client update": [CLIENT, "language=nl"],
    "client set": [CLIENT, "wellbeing=3"],
    "client note": [CLIENT, "belt terug"],
    "client outflow": [CLIENT, "--type", "fulltime"],
    "client history": [CLIENT, "wellbeing"],
    "client reassign": [CLIENT, "--to", "coach1"],
    "client forget": [CLIENT, "--yes"],
    "client optout": [CLIENT, "--channel", "sms"],
    "intervention start": [CLIENT, "cv_workshop"],
    "intervention end": [CLIENT, "work_first"],
    "intervention import": ["{dir}/interventions.csv"],
    "user add": ["newcoach", "--role", "coach"],
    "user list": [],
    "user disable": ["coach2"],
    "audit": [],
    "audit verify": [],
    "retention apply": [],
    "backup": ["{tmp}/backup.db"],
    "restore": ["{dir}/backup.db", "--force"],
    "segment check": ["wellbeing <= 3"],
    "segment count": ["wellbeing <= 3"],
    "segment list": ["wellbeing <= 3"],
    "segment save": ["mine", "wellbeing <= 3"],
    "segment show": ["low"],
    "segment delete": ["low"],
    "segment saved": [],
    "segment split": ["low", "--into", "low_a", "low_b"],
    "report compare": ["wellbeing <= 2", "wellbeing >= 3"],
    "report effect": ["--intervention", "work_first"],
    "template add": ["hello", "--channel", "sms", "--body", "Hoi {{ first_name }}"],
    "template show": ["greeting"],
    "template delete": ["greeting"],
    "template preview": ["greeting", "--client", CLIENT],
    "queue": ["--segment", "low", "--template", "greeting"],
    "outbox show": ["1"],
    "item import": ["{dir}/items.csv"],
    "item add": ["key=k2", "kind=tip", "title=Tip", "url=https://werk.example/2"],
    "item show": ["k1"],
    "item expire": ["k1"],
    "digest now": ["--segment", "low", "--yes"],
    "digest schedule": ["--segment", "low", "--every", "1d", "--yes"],
    "attention snooze": [CLIENT, "--until", "2099-01-01"],
    "followup add": [CLIENT, "Terugbellen", "--due", "tomorrow"],
    "followup done": ["1"],
    "client message": [CLIENT, "Tot morgen", "--channel", "email"],
}
# commands whose allowed run may end in bad input (2) with the fixture data, and why
MAY_BE_BAD_INPUT = {"outbox show": "the fixture has no message 1", "digest pause": "the fixture has no schedule",
                    "digest resume": "the fixture has no schedule", "followup done": "the fixture has no follow-up 1",
                    "client message": "the fixture's client may have no email address"}


def leaf_commands(group=main, path=()):
    for name, cmd in sorted(group.commands.items()):
        full = (*path, name)
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:
                yield " ".join(full), cmd
            yield from leaf_commands(cmd, full)
        else:
            yield " ".join(full), cmd


COMMANDS = dict(leaf_commands())


def allowed_roles(path: str) -> set[str]:
    if path in EXPECTED:
        return EXPECTED[path]
    top = path.split()[0]
    return GROUP_DEFAULTS.get(top, STAFF)


def made_up_args(cmd: click.Command) -> list[str]:
    """Arguments for a command nobody has described yet, from its parameter names."""
    by_name = {"number": CLIENT, "file": "{dir}/people.csv", "src": "{dir}/backup.db", "dest": "{tmp}/out",
               "pairs": "wellbeing=3", "key": "wellbeing", "text": "hallo", "expression": "wellbeing <= 3",
               "segment": "low", "template_name": "greeting", "template": "greeting", "name": "greeting",
               "message_id": "1", "client": CLIENT}
    out = []
    for p in cmd.params:
        if not p.required:
            continue
        if isinstance(p.type, click.Choice):
            value = p.type.choices[0]
        else:
            value = by_name.get(p.name, "1" if isinstance(p.type, click.types.IntParamType) else "x")
        if isinstance(p, click.Option):
            out += [p.opts[0], value] * (1 if p.nargs == 1 else 0) or [p.opts[0], *[value] * p.nargs]
        else:
            out += [value] * max(p.nargs, 1)
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One database with users, clients, a segment, a template and files to import."""
    where = tmp_path_factory.mktemp("matrix")
    cl = Caseload(where).init(users=[("coach1", "coach", "team-a"), ("coach2", "coach", "team-b"),
                                     ("lead1", "teamlead", "team-a"), ("analyst1", "analyst", None),
                                     ("gone", "admin", None)])
    cl.ok("user", "disable", "gone")
    cl.ok("client", "add", f"client_number={CLIENT}", "first_name=Ada", "coach=coach1")
    cl.ok("client", "add", f"client_number={OTHER_TEAM}", "first_name=Bo", "coach=coach2")
    cl.ok("client", "set", CLIENT, "wellbeing=2")
    cl.ok("intervention", "start", CLIENT, "work_first")
    cl.ok("segment", "save", "low", "wellbeing <= 2")
    if "template add" in COMMANDS:
        cl.ok("template", "add", "greeting", "--channel", "sms", "--body", "Hoi {{ first_name }}")
    write_people_csv(where / "people.csv")
    if "item add" in COMMANDS:
        cl.ok("item", "add", "key=k1", "kind=vacancy", "title=Baan", "url=https://werk.example/1")
    (where / "items.csv").write_text("key;kind;title;url\nk3;tip;Tip;https://werk.example/3\n")
    (where / "interventions.csv").write_text("client_number;intervention;start\nC1;cv_workshop;01-02-2025\n")
    cl.ok("backup", where / "backup.db")
    conn = sqlite3.connect(cl.db)
    cl.last_audit_id = conn.execute("SELECT MAX(id) FROM audit").fetchone()[0]
    conn.close()
    return cl


class StillRunning(BaseException):
    pass


def _alarm(signum, frame):
    raise StillRunning()


CASES = [(path, role) for path in COMMANDS for role in [*ROLES, *NOBODY]]


def was_refused(db: Path, user: str, after: int) -> bool:
    """Every PermissionDenied the CLI reports is audited as 'refused'."""
    if not db.exists():
        return False
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT 1 FROM audit WHERE actor = ? AND action = 'refused' AND id > ?",
                            [user, after]).fetchone() is not None
    except sqlite3.DatabaseError:
        return False
    finally:
        conn.close()


def _case(path, role):
    gap = KNOWN_GAPS.get((path, role))
    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
    return pytest.param(path, role, marks=marks, id=f"{path.replace(' ', '-')}-{role}")


@pytest.mark.parametrize("path, role", [_case(p, r) for p, r in CASES])
def test_matrix(template, tmp_path, path, role):
    user = ROLES.get(role) or NOBODY[role]
    should = role in allowed_roles(path) or path in UNGATED
    if path in LONG_RUNNING and should:
        pytest.skip("long-running command: its own tests cover the allowed roles")
    cl = Caseload(tmp_path)
    shutil.copy2(template.db, cl.db)
    shutil.copy2(template.config, cl.config)
    args = [a.format(dir=template.dir, tmp=tmp_path, user=user)
            for a in ARGS.get(path, made_up_args(COMMANDS[path]))]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(30)
    try:
        result = cl.run(*path.split(), *args, user=user, input="")
    except StillRunning:
        pytest.fail(f"{path} as {role} was still running after 30 s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out = " ".join(result.output.split())
    refused = result.exit_code == 1 and (was_refused(cl.db, user, template.last_audit_id) or any(" ".join(r.split()) in out for r in (
        t("backup.not_admin_in_backup", user=user), t("backup.not_admin_in_target", user=user))))
    assert t("cli.internal_error", kind="").split("(")[0] not in out, out
    if should:
        assert not refused, f"{path} refused {role}: {out}"
        if path in ARGS and path not in MAY_BE_BAD_INPUT:
            assert result.exit_code == 0, f"{path} as {role}: {out}"
    else:
        assert refused, f"{path} allowed {role} (exit {result.exit_code}): {out}"
        assert "Ada" not in result.stdout and "Bo " not in result.stdout


def test_every_command_has_help_and_the_matrix_knows_the_groups():
    for path, cmd in COMMANDS.items():
        assert cmd.help, f"{path} has no help"
    assert {"user add", "audit verify", "client forget", "backup", "restore", "retention apply"} <= set(COMMANDS)
