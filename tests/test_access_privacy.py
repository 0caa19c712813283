"""A run from import to export (and every trust command) leaves no personal value of the test
clients, and no secret, in any log record at any level, nor in the audit trail.

Engineers adding send, replies or reports: append your commands to `end_to_end` below, or
write your own test with the `log_probe` fixture from tests/privacy.py."""

import logging
import sqlite3

import pytest

from privacy import NOTES, PERSONS, Caseload, personal_values, write_people_csv
from privacy import log_probe  # noqa: F401  (fixture)

SECRETS = {"CASELOAD_SMTP_PASSWORD": "pw-Kx81-never-log", "CASELOAD_SMS_TOKEN": "tok-Qz55-never-log",
           "CASELOAD_WEBHOOK_TOKEN": "hook-Lm09-never-log"}
A, B, C = PERSONS


def end_to_end(cl: Caseload):
    env = SECRETS
    cl.ok("import", write_people_csv(cl.dir / "people.csv"), env=env)
    bad = cl.dir / "bad.csv"
    bad.write_text(f"client_number;email\n{A['client_number']};{A['first_name']}-at-nowhere\n")
    assert cl.run("import", bad, env=env).exit_code == 2
    for number, text in NOTES.items():
        cl.ok("client", "note", number, text, user="coach1", env=env)
    cl.ok("client", "list", user="coach1", env=env)
    cl.ok("client", "list", "--format", "json", user="lead1", env=env)
    cl.ok("client", "show", A["client_number"], user="coach1", env=env)
    cl.ok("client", "show", A["client_number"], "--format", "json", env=env)
    cl.ok("client", "set", A["client_number"], "wellbeing=1", "talents=Zingt in het Quirijnsen-koor",
          user="coach1", env=env)
    cl.ok("client", "update", B["client_number"], "phone=06-48887777", user="coach1", env=env)
    cl.ok("client", "history", A["client_number"], "wellbeing", user="coach1", env=env)
    cl.ok("client", "outflow", B["client_number"], "--type", "parttime", user="coach1", env=env)
    cl.ok("intervention", "start", A["client_number"], "cv_workshop", user="coach1", env=env)
    cl.ok("intervention", "end", A["client_number"], "cv_workshop", "--result", "completed", user="coach1", env=env)
    assert cl.run("client", "show", C["client_number"], user="coach1", env=env).exit_code == 2  # not theirs
    assert cl.run("client", "show", A["client_number"], user="analyst1", env=env).exit_code == 1
    assert cl.run("client", "list", user="stranger", env=env).exit_code == 1
    cl.ok("export", "--output", cl.dir / "export.csv", user="coach1", env=env)
    cl.ok("export", "--include-special", user="admin1", env=env)
    cl.ok("export", "--format", "xlsx", "--output", cl.dir / "export.xlsx", env=env)
    cl.ok("segment", "count", "wellbeing <= 2", user="analyst1", env=env)
    cl.ok("segment", "list", "wellbeing <= 2", user="coach1", env=env)
    for report in ("outflow", "caseload"):
        cl.ok("report", report, user="analyst1" if report != "caseload" else "admin1", env=env)
    cl.ok("audit", env=env)
    cl.ok("audit", "--client", A["client_number"], env=env)
    cl.ok("audit", "verify", env=env)
    cl.config.chmod(0o644)  # a warning on the log, naming the file
    cl.ok("user", "add", "coach3", "--role", "coach", env=env)
    cl.config.chmod(0o600)
    cl.ok("backup", cl.dir / "backup.db", env=env)
    cl.ok("client", "forget", C["client_number"], "--yes", env=env)
    cl.ok("retention", "apply", env=env)
    cl.ok("restore", cl.dir / "backup.db", "--force", env=env)


def test_no_personal_value_or_secret_in_the_logs_of_a_full_run(tmp_path, log_probe):
    cl = Caseload(tmp_path).init()
    end_to_end(cl)
    seen = {r.name for r in log_probe.records}
    assert {"caseload", "caseload.erasure", "caseload.backup", "caseload.retention", "caseload.users"} <= seen
    values = personal_values() + ["Zingt in het Quirijnsen-koor", "+31648887777", *SECRETS.values()]
    log_probe.assert_clean(values)


def test_no_personal_value_in_the_audit_trail_after_a_full_run(tmp_path):
    cl = Caseload(tmp_path).init()
    end_to_end(cl)
    conn = sqlite3.connect(cl.db)
    text = "\n".join(" ".join(map(str, r)) for r in conn.execute("SELECT * FROM audit"))
    actions = {r[0] for r in conn.execute("SELECT DISTINCT action FROM audit")}
    conn.close()
    found = [v for v in personal_values() if v in text]
    assert found == []
    assert {"import", "view", "note", "observe", "change", "outflow", "export", "forget", "backup",
            "restore", "retention", "refused"} <= actions


def test_the_probe_does_catch_a_leak(log_probe):
    logging.getLogger("caseload.anything").debug("sending to %s", A["email"])
    with pytest.raises(AssertionError, match="personal data in log records"):
        log_probe.assert_clean()
    with pytest.raises(AssertionError, match="extra text"):
        log_probe.records.clear()
        log_probe.assert_clean(extra=[f"smtp log: RCPT TO:<{B['email']}>"])
