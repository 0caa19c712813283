"""The CLI as it is really run: the installed console script in a fresh process, in a pipe,
watched by monitoring."""

import subprocess

import pytest

from console import CASELOAD, caseload, clean_env


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo database with the default 2,000 clients: a CSV list of them outgrows a pipe's buffer."""
    where = tmp_path_factory.mktemp("process")
    env = clean_env(HOME=str(where), CASELOAD_DB=str(where / "demo.db"))
    r = caseload("demo", env=env, cwd=where)
    assert r.returncode == 0, r.stderr.decode()
    return where, env


def test_a_reader_that_goes_away_ends_the_command_quietly(demo):
    """`caseload client list --format csv | head` ended in "internal error: BrokenPipeError"."""
    where, env = demo
    p = subprocess.Popen([str(CASELOAD), "client", "list", "--format", "csv"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=where)
    assert p.stdout.readline().startswith(b"client_number,")
    p.stdout.close()  # as head does after its lines
    err = p.stderr.read()
    assert p.wait(timeout=60) in (0, 141)  # 141: 128 + SIGPIPE, what cat or grep report
    assert err == b""


def test_daemon_status_tells_monitoring_whether_a_daemon_runs(demo):
    from caseload.daemon.loop import Lock

    where, env = demo
    r = caseload("daemon", "status", env=env, cwd=where)
    assert r.returncode == 3, r.stderr.decode()  # none runs
    assert "No daemon is running" in r.stderr.decode()
    assert caseload("daemon", "status", "--format", "json", env=env, cwd=where).returncode == 3
    lock = Lock(where / "demo.db")  # what a running daemon holds
    assert lock.acquire()
    try:
        r = caseload("daemon", "status", "--format", "json", env=env, cwd=where)
        assert r.returncode == 0, r.stderr.decode()
    finally:
        lock.release()


def test_the_demo_caseload_exports_and_imports_again(demo):
    """The README's tour imports an export; demo emails once carried a last name's comma
    ("Werl-Arnsberg, van") and the import refused two rows."""
    where, env = demo
    r = caseload("export", "--output", "export.csv", env=env, cwd=where)
    assert r.returncode == 0, r.stderr.decode()
    r = caseload("import", "export.csv", "--dry-run", env=env, cwd=where)
    assert r.returncode == 0, r.stderr.decode()
