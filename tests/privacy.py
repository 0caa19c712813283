"""Shared test helpers for privacy: test clients full of personal data, a CLI runner that acts
as a user (SUDO_USER), and a probe that fails when a personal value shows up in the logs.

Use them from any test module (tests/ is on sys.path under pytest):

    from privacy import PERSONS, Caseload, personal_values
    from privacy import log_probe  # noqa: F401  (the fixture)

    def test_send_leaks_nothing(tmp_path, log_probe):
        cl = Caseload(tmp_path).with_people()
        cl.ok("send", user="admin1")
        log_probe.assert_clean(personal_values(), extra=[captured_smtp_log])
"""

import atexit
import csv
import logging
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from caseload.cli import main

# Distinctive values, so a hit in a log is never a coincidence.
PERSONS = [
    {"client_number": "KL-770011", "first_name": "Zwaantje", "last_name": "Quirijnsen",
     "email": "zwaantje.quirijnsen@voorbeeld.nl", "phone": "06-41234567", "birth_date": "12-03-1985",
     "coach": "coach1", "wellbeing": "2", "talents": "Restaureert Friese staartklokken",
     "debts": "ja"},
    {"client_number": "KL-770012", "first_name": "Barend-Jan", "last_name": "Oudejaarsveld",
     "email": "bj.oudejaarsveld@voorbeeld.nl", "phone": "06-47654321", "birth_date": "30-11-1979",
     "coach": "coach1", "wellbeing": "4", "talents": "Kweekt bonsai van Japanse esdoorn",
     "debts": "nee"},
    {"client_number": "KL-770013", "first_name": "Fenneke", "last_name": "Wolterbeek-Ypma",
     "email": "fenneke.wy@voorbeeld.nl", "phone": "06-43219876", "birth_date": "01-07-1992",
     "coach": "coach2", "wellbeing": "3", "talents": "Schrijft gedichten in het Gronings",
     "debts": "ja"},
]
NOTES = {"KL-770011": "Belde over de huur van Zwaantje bij Woonbron Quirijnsen-hof",
         "KL-770012": "Barend-Jan heeft een afspraak bij de schuldhulp op dinsdag"}
USERS = [("coach1", "coach", "team-a"), ("coach2", "coach", "team-b"), ("lead1", "teamlead", "team-a"),
         ("analyst1", "analyst", None)]


def _e164(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "+31" + digits[1:] if digits.startswith("0") else "+" + digits


def _iso(day: str) -> str:
    d, m, y = day.split("-")
    return f"{y}-{m}-{d}"


def personal_values(persons=PERSONS, notes=NOTES) -> list[str]:
    """Every personal value of the test clients, as typed and as stored."""
    out = set()
    for p in persons:
        out.update(v for k, v in p.items() if k not in ("coach", "wellbeing", "debts"))
        out.add(_e164(p["phone"]))
        out.add(p["phone"].replace("-", ""))
        out.add(_iso(p["birth_date"]))
        out.add(f"{p['first_name']} {p['last_name']}")
    out.update(notes.values())
    return sorted(out)


def write_people_csv(path: Path, persons=PERSONS) -> Path:
    cols = list(persons[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(cols)
        for p in persons:
            w.writerow([p[c] for c in cols])
    return path


_TEMPLATES: dict[tuple, "Caseload"] = {}


class Caseload:
    """A database and config.toml in a temporary directory; `run` acts as a user."""

    def __init__(self, tmp_path: Path, admin: str = "admin1"):
        self.dir = Path(tmp_path)
        self.db = self.dir / "caseload.db"
        self.config = self.dir / "config.toml"
        self.admin = admin
        self.runner = CliRunner()

    def run(self, *args, user: str | None = None, input: str | None = None, env: dict | None = None):
        full_env = {"SUDO_USER": user or self.admin, "SUDO_UID": "", "CASELOAD_LOG": "DEBUG",
                    "CASELOAD_DB": None, "CASELOAD_CONFIG": None, **(env or {})}
        return self.runner.invoke(main, ["--lang", "en", "--db", str(self.db), "--config", str(self.config),
                                         *map(str, args)], env=full_env, input=input)

    def ok(self, *args, user: str | None = None, **kw):
        result = self.run(*args, user=user, **kw)
        assert result.exit_code == 0, (args, user, result.output)
        return result

    def init(self, users=USERS):
        """`caseload init` by the admin, then the users; built once per process and copied."""
        key = (self.admin, tuple(users))
        if key not in _TEMPLATES:
            where = tempfile.mkdtemp(prefix="caseload-template-")
            atexit.register(shutil.rmtree, where, True)
            made = Caseload(Path(where), self.admin)
            made.ok("init")
            for name, role, team in users:
                made.ok("user", "add", name, "--role", role, *(["--team", team] if team else []))
            _TEMPLATES[key] = made
        made = _TEMPLATES[key]
        for src, dst in ((made.db, self.db), (made.config, self.config)):
            shutil.copy2(src, dst)
        return self

    def with_people(self, persons=PERSONS, notes=NOTES):
        """init, users, and the test clients imported with their notes."""
        if not self.db.exists():
            self.init()
        self.ok("import", write_people_csv(self.dir / "people.csv", persons))
        for number, text in notes.items():
            self.ok("client", "note", number, text)
        return self


class LogProbe(logging.Handler):
    """Catches every log record of every logger, at every level, while installed."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        lines = []
        for r in self.records:
            lines.append(self.format(r))  # includes the traceback text, if any
            lines.append(repr(r.args))
        return "\n".join(lines)

    def assert_clean(self, values=None, extra: list[str] | None = None) -> None:
        """No personal value in any captured record (nor in the extra texts, e.g. a log file)."""
        values = personal_values() if values is None else values
        for where, text in [("log records", self.text()), *((f"extra text {i}", x) for i, x in enumerate(extra or []))]:
            found = [v for v in values if v and v in text]
            assert not found, f"personal data in {where}: {len(found)} values (first: {found[0][:3]}...)"


@pytest.fixture
def log_probe():
    probe = LogProbe()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(probe)
    root.setLevel(logging.DEBUG)
    try:
        yield probe
    finally:
        root.removeHandler(probe)
        root.setLevel(old_level)
