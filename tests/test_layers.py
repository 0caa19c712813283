"""The core never imports the TUI, the daemon or textual (checked in a clean interpreter)."""

import pkgutil
import subprocess
import sys

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
