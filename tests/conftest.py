"""Shared fixtures: a real SQLite file per test, and the real CLI through CliRunner."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from hypothesis import settings

from caseload import access, i18n

# The machine is shared and noisy: no per-example deadlines (timing lives in bench/).
settings.register_profile("caseload", deadline=None)
settings.load_profile("caseload")
from caseload.config import load_config
from caseload.store import open_store


@pytest.fixture(autouse=True)
def _english(monkeypatch):
    """Tests read English messages unless they ask for Dutch."""
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.delenv("CASELOAD_DB", raising=False)
    monkeypatch.delenv("CASELOAD_CONFIG", raising=False)
    i18n.set_language("en")
    yield
    i18n.set_language("en")


@pytest.fixture
def no_noise(monkeypatch):
    """Analysts' releases without noise (caseload.privacy): for tests of what is computed from the
    counts (suppression, rates, tests), not of the noise. The budget and caching still apply."""
    import numpy as np

    from caseload import privacy

    monkeypatch.setattr(privacy, "sample", lambda scale, shape, rng=None: np.zeros(shape, dtype=np.int64))
    monkeypatch.setattr(privacy, "tail_probability", lambda scale, tau: 0.0)  # no empty stratum passes


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "caseload.db"


@pytest.fixture
def store(db_path):
    """A fresh database with the default catalog and one admin, 'admin'."""
    s = open_store(load_config(None), db_path, create=True)
    access.add_user(s.db, "admin", "admin")
    yield s
    s.close()


@pytest.fixture
def admin(store):
    return access.resolve_actor(store.db, "admin")


class Cli:
    """Runs `caseload` in-process against this test's database, as a given user."""

    def __init__(self, tmp_path: Path):
        self.db = tmp_path / "caseload.db"
        self.config = tmp_path / "config.toml"
        self.runner = CliRunner()

    def __call__(self, *args, user: str = "admin", input: str | None = None, env: dict | None = None):
        from caseload.cli import main

        full_env = {"SUDO_USER": user, "SUDO_UID": "", "LANG": "en_US.UTF-8", "COLUMNS": "200", **(env or {})}
        return self.runner.invoke(main, ["--db", str(self.db), "--config", str(self.config), *map(str, args)],
                                  input=input, env=full_env, catch_exceptions=False)

    def init(self):
        result = self("init")
        assert result.exit_code == 0, result.output
        return self


@pytest.fixture
def cli(tmp_path) -> Cli:
    """The CLI on a fresh database made with `caseload init` (user 'admin' is the first admin)."""
    return Cli(tmp_path).init()


def snapshot_tables(path: Path) -> dict:
    """Every row of every table, for proving that nothing changed."""
    import sqlite3

    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    out = {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    conn.close()
    return out


os.environ.setdefault("CASELOAD_LOG", "WARNING")


@pytest.fixture
def tui_store(tmp_path):
    """The TUI tests' database (tests/tui_fixture.py), at a frozen moment."""
    from tui_fixture import database, frozen

    with frozen():
        s = open_store(load_config(None), database(tmp_path))
        yield s
        s.close()
