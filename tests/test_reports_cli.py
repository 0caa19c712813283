"""`caseload report ...` through click, with real files."""

import json
import re

import pytest
from click.testing import CliRunner

from caseload.cli import main
from test_reports_data import new_store, planted


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    store = new_store(path)
    planted(store, n=1500, seed=9)
    store.close()
    return path


def run(db, *args, user="adam"):  # exact numbers: an analyst's carry noise (test_privacy.py)
    env = {"CASELOAD_DB": str(db / "c.db"), "CASELOAD_CONFIG": str(db / "config.toml"), "SUDO_USER": user}
    return CliRunner().invoke(main, ["--lang", "en", "report", *args], env=env)


def test_effect_json_has_the_promised_fields(db):
    r = run(db, "effect", "--intervention", "assessment", "--match", "physical_complaints", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    for key in ("intervention", "participants", "matched_participants", "effect_pp", "ci_low_pp", "ci_high_pp",
                "naive_effect_pp", "method"):
        assert key in data
    assert data["intervention"] == "assessment" and data["participants"] > 100
    assert data["ci_low_pp"] < data["effect_pp"] < data["ci_high_pp"]


def test_outflow_formats_and_html(db, tmp_path):
    r = run(db, "outflow", "--date", "2025-01-01", "--format", "csv", "--key", "physical_complaints")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("section,group,value,n,outflow,rate_pct")
    assert any(line.startswith("characteristic,physical_complaints,true,") for line in lines)
    r = run(db, "outflow", "--date", "2025-01-01", "--key", "wellbeing")
    assert r.exit_code == 0 and "Outflow" in r.stdout, r.output
    page = tmp_path / "outflow.html"
    r = run(db, "outflow", "--date", "2025-01-01", "--html", str(page), "--format", "json")
    assert r.exit_code == 0, r.output
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") >= 80
    assert "<script" not in html and not re.search(r'(src|href)=["\']?https?:', html)
    assert page.stat().st_mode & 0o077 == 0
    assert all(float(w) <= 640 for w in re.findall(r'<rect[^>]* width="([0-9.]+)"', html))


def test_effect_html_bars_fit(db, tmp_path):
    page = tmp_path / "effect.html"
    r = run(db, "effect", "--intervention", "assessment", "--html", str(page))
    assert r.exit_code == 0, r.output
    widths = [float(w) for w in re.findall(r'<rect[^>]* width="([0-9.]+)"', page.read_text())]
    assert len(widths) == 3 and all(0 < w <= 640 - 260 - 60 + 1 for w in widths)


def test_compare_caseload_attention_and_engagement(db):
    r = run(db, "compare", "physical_complaints = yes", "physical_complaints = no", "--date", "2025-01-01",
            "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["verdict"] == "different" and data["difference_pp"] < 0
    r = run(db, "caseload", "--format", "json")
    assert r.exit_code == 0 and {c["coach"] for c in json.loads(r.stdout)["coaches"]} == {"cora", "carl"}
    r = run(db, "attention", "--format", "json", user="cora")
    assert r.exit_code == 0, r.output
    assert {row["coach"] for row in json.loads(r.stdout)} <= {"cora"}
    r = run(db, "attention", user="ana")
    assert r.exit_code == 1 and "Traceback" not in r.output
    r = run(db, "engagement", "--format", "json")
    assert r.exit_code in (0, 1) and "Traceback" not in r.output


def test_bad_input_exits_2_with_one_message(db):
    r = run(db, "effect", "--intervention", "nothing-like-it")
    assert r.exit_code == 2 and "assessment" in r.output
    r = run(db, "outflow", "--date", "31-13-2024")
    assert r.exit_code == 2 and "--date" in r.output
    r = run(db, "effect", "--intervention", "assessment", "--match", "talents")
    assert r.exit_code == 2 and "talents" in r.output


def test_every_report_command_has_help(db):
    for cmd in ("outflow", "effect", "compare", "attention", "engagement", "caseload"):
        r = run(db, cmd, "--help")
        assert r.exit_code == 0 and "--format" in r.output and "--html" in r.output
