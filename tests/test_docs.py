"""Every `caseload ...` line in README.md and docs/*.md works as a reader would run it.

Each documented line runs through the installed console script in a fresh process, in the
order of its file, in a directory of its own with a demo database (the README's tour sets
`CASELOAD_DB=demo.db`). A line a person types under sudo (`sudo -u caseload caseload X`) runs as
the documented wrapper, which reads the documented environment file; paths of an installation
(`/etc/caseload`, `/var/lib/caseload`, ...) are moved under the test's directory. A cron line
runs as cron runs it: `env -i PATH=/usr/bin:/bin HOME=... sh -c LINE`. Where running a line
needs a server or a terminal (HELP_ONLY), or the line is a synopsis with placeholders (FILE,
N, [--option], a|b), its command's `--help` must work and name every option the line shows.
A line that only names a command (`caseload init`, in prose) is checked the same way.

Sudo itself, the service account and the attacks are tests/test_deploy.py's.
"""

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click
import pytest

from caseload.cli import load_all, main
from console import CASELOAD, clean_env

load_all()
ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]

# Paths of a real installation, moved under the test's directory; the venv's script is the installed one.
ROOTED = ["/var/backups/caseload", "/var/lib/caseload", "/etc/caseload", "/usr/local/bin/caseload"]
VENV_SCRIPT = "/opt/caseload/venv/bin/caseload"
WRAPPER = "/usr/local/bin/caseload"
ENV_FILE = "/etc/caseload/caseload.env"

# Commands that need a server or a terminal to run: their --help is checked instead.
HELP_ONLY = {
    "tui": "a terminal application; tests/test_tui*.py drive it",
    "daemon": "a long-running server; tests/test_daemon_*.py start it for real",
    "send": "sends what is due through an SMTP relay or SMS provider; tests/test_send*.py run it against"
            " real servers (the cron lines run it on a database with nothing due)",
}
# Documented lines whose success has another exit code, and why.
EXPECTED_EXIT = {
    "daemon status": (3, "no daemon runs during the test, and 3 says so (docs/daemon.md)"),
}
# Objects the examples of a file take for granted, made before its lines run. WRAPPER runs the
# documented wrapper, as `sudo -u caseload caseload` would: its database is the installation's.
SETUP = {
    "README.md": ["WRAPPER init", "caseload --db demo.db demo", "caseload --db demo.db export --output export.csv",
                  # an import names its coaches: the installation knows the demo's (an unknown one is refused)
                  "caseload --db demo.db user list --format csv | awk -F, '$2 == \"coach\" {print $1}'"
                  f" | while read c; do {WRAPPER} user add \"$c\" --role coach; done"],
    "docs/daemon.md": [
        "WRAPPER init", "caseload demo",
        "caseload segment save actief 'status = active'",
        "caseload segment save nieuw 'intake_date >= 30 days ago'",
        *(f"caseload template add {name} --channel sms --body 'Hoi {{{{ first_name }}}}'"
          for name in ("tip", "nieuws", "welkom", "info")),
    ],
    "docs/segments.md": ["WRAPPER init", "caseload demo"],
    "docs/offers.md": [
        "WRAPPER init", "caseload demo",
        "printf 'sleutel;soort;titel;url;tags\\nzorg1;vacature;Zorgmedewerker;https://werk.example/zorg1;zorg\\n'"
        " > aanbod.csv",
    ],
    "docs/impact.md": [
        "WRAPPER init", "caseload demo",
        "printf 'klantnummer;kenmerk;waarde;datum\\n100001;welbevinden;2;15-03-2024\\n100002;schulden;ja;01-02-2024\\n'"
        " > geschiedenis.csv",
    ],
    "docs/languages.md": ["WRAPPER init", "caseload demo"],
    # "Files in and out" comes before "Users and roles": an installation with clients and files to send in
    "docs/operations.md": [
        "WRAPPER demo", "WRAPPER export > export.csv", "printf 'Hoi {{ first_name }}' > tip.txt",
        "printf 'client_number;intervention;start\\n100001;cv_workshop;01-02-2025\\n' > interventions.csv",
    ],
}
# Commands run just before a line (file, text in the line), for what its example takes for granted.
BEFORE = {
}
# A file's starting environment (the README's tour sets its own).
BASE_ENV = {"README.md": {}, "docs/operations.md": {}}
DEFAULT_ENV = {"CASELOAD_DB": "demo.db"}
# Example names in a line that stand for a file the lines before made.
EXAMPLES = {"/var/backups/caseload/caseload-20250601-023000.db": "/var/backups/caseload/caseload-*.db"}
# Example moments that must lie in the future, moved a year ahead of today once they have passed.
FUTURE = ["2027-03-01 10:00"]
# Lines that fail until another workstream's fix lands on main: (file, text in the line) -> workstream.
PENDING = {
}

PLACEHOLDER = re.compile(r"^\[|\.\.\.|^[A-Z][A-Z0-9_]*\]?$")
CRON = re.compile(r"^((?:\S+\s+){5})(\S+)\s+(.*)$")
CRON_TIME = re.compile(r"^[\d*/,-]+$")


@dataclass
class Line:
    file: str
    number: int
    text: str
    inline: bool = False

    def __str__(self):
        return f"{self.file}:{self.number}: {self.text}"


def fenced_blocks(text: str):
    """(language, first line number, lines) of every fenced block."""
    lines, i = text.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            lang, start, body = lines[i][3:].strip(), i + 2, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield lang, start, body
        i += 1


def is_caseload_word(word: str) -> bool:
    return word == "caseload" or (word.endswith("/caseload") and word[:1] in "./")


def command_words(part: str) -> list[str] | None:
    """The words of a caseload invocation (after the program), or None when `part` is not one."""
    try:
        words = shlex.split(part, comments=True)
    except ValueError:
        return None
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    if words[:3] == ["sudo", "-u", "caseload"]:
        words = words[3:]
    if not words or not is_caseload_word(words[0]) or len(words) < 2:
        return None
    return words[1:]


def cron_line(text: str):
    m = CRON.match(text)
    if m and all(CRON_TIME.match(w) for w in m.group(1).split()):
        return m.group(2), m.group(3)
    return None


def documented_lines(file: str) -> list[Line]:
    text = (ROOT / file).read_text(encoding="utf-8")
    out = []
    scripts = set()
    for lang, start, body in fenced_blocks(text):
        if lang in ("ini", "toml") or (body and body[0].startswith("#!")):
            scripts.update(range(start, start + len(body)))
            continue
        for n, line in enumerate(body, start):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if cron_line(stripped) or stripped.startswith("export ") or any(
                    command_words(p) is not None for p in stripped.split(" && ")):
                out.append(Line(file, n, stripped))
    fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fence = not fence
            continue
        if not fence:
            for m in re.finditer(r"`((?:sudo -u caseload )?caseload [^`]*)`", line):
                if m.group(1).strip() != "sudo -u caseload caseload ...":  # the general form, in prose
                    out.append(Line(file, n, m.group(1), inline=True))
    return sorted(out, key=lambda x: x.number)


def command_paths(words: list[str]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The command paths a line names (a|b gives two) and the options after them."""
    i = 0
    while i < len(words) and words[i] in ("--db", "--config", "--lang"):
        i += 2
    paths, group, prefix = [], main, ()
    rest = words[i:]
    while rest and isinstance(group, click.Group):
        names = [w for w in rest[0].split("|")]
        if not all(n in group.commands for n in names):
            break
        if len(names) > 1 or not isinstance(group.commands[names[0]], click.Group):
            paths = [(*prefix, n) for n in names]
            rest = rest[1:]
            # `campaign list | pause NAME | resume NAME`: more commands of the same group
            while len(rest) >= 2 and rest[0] == "|" and rest[1] in group.commands:
                paths.append((*prefix, rest[1]))
                rest = rest[2:]
            break
        prefix = (*prefix, names[0])
        group = group.commands[names[0]]
        rest = rest[1:]
        paths = [prefix]
    options = [w.strip("[]").split("=")[0] for w in rest if w.strip("[").startswith("--")]
    return paths, options


def is_synopsis(words: list[str]) -> bool:
    paths, _ = command_paths(words)
    return len(paths) > 1 or any(PLACEHOLDER.search(w) for w in words)


class Reader:
    """Runs one file's lines the way its reader would, in a directory of its own."""

    def __init__(self, tmp: Path, file: str):
        self.tmp, self.file = tmp, file
        self.fake = tmp / "root"
        self.work = tmp / "work"
        self.home = tmp / "home"
        for d in (self.work, self.home, tmp / "bin", self.fake / "etc/caseload", self.fake / "usr/local/bin"):
            d.mkdir(parents=True, exist_ok=True)
        for d in ("var/lib/caseload", "var/backups/caseload"):
            (self.fake / d).mkdir(parents=True, exist_ok=True)
            (self.fake / d).chmod(0o700)
        logger = tmp / "bin/logger"  # syslog may be absent here; the stub keeps what it was given
        logger.write_text(f'#!/bin/sh\ncat >> "{tmp}/logger.txt"\n')
        logger.chmod(0o755)
        self.wrapper = self.fake / WRAPPER.lstrip("/")
        self.wrapper.write_text(self.rooted(operations_block("#!/bin/sh")) + "\n")
        self.wrapper.chmod(0o755)
        (self.fake / ENV_FILE.lstrip("/")).write_text(self.rooted(operations_block("CASELOAD_DB=")) + "\n")
        self.env = clean_env(HOME=str(self.home), PATH=f"{tmp}/bin:{CASELOAD.parent}:/usr/bin:/bin")
        self.env.update(BASE_ENV.get(file, DEFAULT_ENV))

    def rooted(self, text: str) -> str:
        text = text.replace(VENV_SCRIPT, str(CASELOAD))
        for path in ROOTED:
            text = text.replace(path, f"{self.fake}{path}")
        return text

    def shell_form(self, text: str) -> str:
        """The line as this test runs it: sudo's form through the wrapper, paths rooted."""
        for example, pattern in EXAMPLES.items():
            if example in text:
                made = sorted(self.fake.glob(pattern.lstrip("/")), key=lambda p: p.stat().st_mtime)
                if made:
                    text = text.replace(example, "/" + str(made[-1].relative_to(self.fake)))
        for moment in FUTURE:
            if moment in text and moment < datetime.now().strftime("%Y-%m-%d %H:%M"):
                text = text.replace(moment, f"{datetime.now().year + 1}{moment[4:]}")
        text = text.replace("sudo -u caseload caseload ", f"{WRAPPER} ")
        text = re.sub(r"(^|\s)\.venv/bin/caseload ", r"\1caseload ", text)
        text = re.sub(r"(^|&& )WRAPPER ", rf"\1{WRAPPER} ", text)
        return self.rooted(text)

    def run(self, command: str, shell=("bash", "-o", "pipefail", "-c"), env=None) -> subprocess.CompletedProcess:
        return subprocess.run([*shell, command], cwd=self.work, env=env or self.env, input=b"y\n",
                              capture_output=True, timeout=300)

    def check(self, line: Line) -> str | None:
        """None when the line works, else what went wrong."""
        text = line.text
        m = re.match(r"^export (\w+)=(\S+)", text)
        if m:
            self.env[m.group(1)] = shlex.split(m.group(2))[0]
            return None
        cron = cron_line(text)
        if cron:
            user, command = cron
            r = self.run(self.shell_form(command), shell=("sh", "-c"),
                         env={"PATH": "/usr/bin:/bin", "HOME": str(self.home), "LOGNAME": user, "SHELL": "/bin/sh"})
            return self.verdict(r, 0)
        parts = text.split(" && ")
        runnable = [p for p in parts if command_words(p) is not None]
        if len(runnable) < len(parts) and not line.inline:  # `python3 -m venv ... && caseload ...`: CI builds the venv
            return next(filter(None, (self.check(Line(line.file, line.number, p)) for p in runnable)), None)
        words = command_words(text)
        paths, options = command_paths(words)
        if not paths:
            return f"no such command: {' '.join(words[:3])}"
        named_only = line.inline and len(words) == len(paths[0])
        if named_only or is_synopsis(words) or " ".join(paths[0]) in HELP_ONLY:
            return self.check_help(paths, options)
        code, _ = EXPECTED_EXIT.get(" ".join(paths[0]), (0, ""))
        return self.verdict(self.run(self.shell_form(text)), code, pipe="|" in text)

    def check_help(self, paths, options) -> str | None:
        for path in paths:
            r = subprocess.run([str(CASELOAD), *path, "--help"], env=self.env, cwd=self.work, capture_output=True,
                               timeout=60)
            out = r.stdout.decode()
            if r.returncode != 0 or f"Usage: caseload {' '.join(path)}" not in out:
                return f"`caseload {' '.join(path)} --help` failed: {r.stderr.decode()[-500:]}"
            missing = [o for o in options if o not in out]
            if missing and len(paths) == 1:
                return f"`caseload {' '.join(path)}` has no option {', '.join(missing)}"
        return None

    @staticmethod
    def verdict(r: subprocess.CompletedProcess, code: int, pipe: bool = False) -> str | None:
        err = r.stderr.decode(errors="replace")
        if "Traceback" in err or "internal error" in err.lower():
            return f"exit {r.returncode}, a traceback or internal error:\n{err[-800:]}"
        if r.returncode == code or (pipe and r.returncode == 141):
            return None
        return f"exit {r.returncode} (expected {code}):\n{err[-800:]}"


def operations_block(first: str) -> str:
    """The block of docs/operations.md that starts with `first` (the wrapper, the environment file)."""
    text = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    for _, _, body in fenced_blocks(text):
        if body and body[0].startswith(first):
            return "\n".join(body)
    raise AssertionError(f"docs/operations.md has no block starting {first!r}")


def pending(line: Line) -> str | None:
    return next((ws for (file, part), ws in PENDING.items() if file == line.file and part in line.text), None)


@pytest.mark.parametrize("file", DOCS)
def test_every_documented_line_works(file, tmp_path):
    reader = Reader(tmp_path, file)
    for command in SETUP.get(file, []):
        r = reader.run(reader.shell_form(command))
        assert r.returncode == 0, f"setup `{command}`: {r.stderr.decode()[-800:]}"
    failures, fixed = [], []
    for line in documented_lines(file):
        for (where, part), commands in BEFORE.items():
            if where == file and part in line.text:
                for command in commands:
                    r = reader.run(reader.shell_form(command))
                    assert r.returncode == 0, f"before {line}: `{command}`: {r.stderr.decode()[-800:]}"
        problem = reader.check(line)
        if problem and not pending(line):
            failures.append(f"{line}\n    {problem}")
        elif not problem and pending(line):
            fixed.append(f"{line}\n    works now: remove its PENDING mark ({pending(line)})")
    assert not failures and not fixed, "\n".join(failures + fixed)


def test_the_reader_finds_the_lines_that_matter():
    """A guard on the parser: the lines the issue names are among those run."""
    texts = {line.text for f in DOCS for line in documented_lines(f)}
    assert "caseload client list --format csv | head    # every read command takes --format table|csv|json" in texts
    assert "caseload client forget N" in texts
    assert any(t.startswith("*/5 * * * *") for t in texts) and any(t.startswith("30 2 * * *") for t in texts)
    assert any(t.startswith("sudo -u caseload caseload init") for t in texts)
    assert len(texts) > 60


def test_one_environment_file_everywhere():
    """operations.md, daemon.md, the wrapper and the unit name the same environment file."""
    unit = (ROOT / "deploy/caseload.service").read_text()
    found = set()
    for text in [unit, *((ROOT / f).read_text() for f in DOCS)]:
        found |= set(re.findall(r"/etc/caseload/[\w.-]+\.env", text))
    assert found == {ENV_FILE}
    assert f"EnvironmentFile={ENV_FILE}" in unit
    assert f". {ENV_FILE}" in operations_block("#!/bin/sh")


def test_operations_shows_the_unit_as_deployed():
    unit = (ROOT / "deploy/caseload.service").read_text()
    shown = next("\n".join(body) for lang, _, body in fenced_blocks((ROOT / "docs/operations.md").read_text())
                 if lang == "ini")
    assert shown.strip() == unit[unit.index("[Unit]"):].strip()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_unit_is_hardened():
    """`systemd-analyze security` rates the unit 3.0 or lower (issue 13); offline: no systemd needed."""
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(ROOT / "deploy/caseload.service")],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for caseload.service: ([\d.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 3.0, r.stdout


def test_backup_pruning_removes_old_backups_and_the_partials_a_killed_backup_leaves(tmp_path):
    """The documented cron line, under cron's own environment, after a backup was killed between
    writing its copy and renaming it."""
    reader = Reader(tmp_path, "docs/operations.md")
    for args in ("init", "user add caseload --role admin"):  # cron runs as the service account
        r = reader.run(f"{reader.wrapper} {args}")
        assert r.returncode == 0, r.stderr.decode()
    backups = reader.fake / "var/backups/caseload"
    kill = ("import os, signal, sys\nfrom caseload.cli import run\n"
            "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"sys.argv = ['caseload', 'backup', {str(backups / 'caseload-20250101-023000.db')!r}]\nrun()\n")
    r = reader.run(f"set -a; . {reader.fake}{ENV_FILE}; exec {CASELOAD.parent}/python -c \"$0\"".replace(
        '"$0"', shlex.quote(kill)))
    assert r.returncode == -9 or r.returncode == 137, r.stderr.decode()
    partials = list(backups.glob(".*"))
    assert partials and all(p.name.endswith(".partial") for p in partials), partials
    beside_db = reader.fake / "var/lib/caseload/.caseload-stdin-x1y2.partial"  # a killed `restore -`
    beside_db.write_bytes(b"")
    old = backups / "caseload-20240101-023000.db"
    old.write_bytes(b"")
    day = 24 * 3600
    for p in [old, beside_db, *partials]:
        t = p.stat().st_mtime - 40 * day
        os.utime(p, (t, t))
    lines = [x for x in documented_lines("docs/operations.md") if cron_line(x.text)]
    assert [x.text[:10] for x in lines] == ["30 2 * * *", "45 2 * * *"]
    for line in lines:
        assert reader.check(line) is None, line
    left = sorted(p.name for p in backups.iterdir())
    assert len(left) == 1 and left[0].startswith("caseload-") and left[0].endswith(".db"), left
    assert sorted(p.name for p in beside_db.parent.iterdir()) == ["caseload.db"]
