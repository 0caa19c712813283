"""The layers hold: the import-linter contracts in pyproject.toml (they see every import, also
one inside a function), and the core never imports the TUI, the daemon or textual when it runs
(checked in a clean interpreter)."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import caseload

CORE = sorted(
    f"caseload.{m.name}" for m in pkgutil.iter_modules(caseload.__path__) if m.name not in ("tui", "daemon", "cli")
)


def test_core_modules_do_not_import_tui_daemon_or_textual():
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'caseload.tui', 'caseload.daemon')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert len(CORE) > 10
    assert out == "", f"the core imported: {out}"


def test_importing_the_package_opens_no_database(tmp_path):
    code = "import caseload, caseload.store, caseload.clients, caseload.cli; import sqlite3; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "ok"
    assert list(tmp_path.iterdir()) == []


def test_import_contracts_are_kept():
    root = Path(__file__).resolve().parent.parent
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and " kept" in done.stdout
