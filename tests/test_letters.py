"""Clients who prefer post get letters: a printable HTML file (a page each, the address in the
envelope's window) or a CSV for a mail merge, with their postal address; nothing else writes."""

import csv
import io
import os

from click.testing import CliRunner

from caseload import access, clients, letters, templates
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
COACH = access.Actor("coach1", "coach")
HOME = {"address": "Dorpsstraat 1", "postal_code": "1234 AB", "city": "Testdorp"}


def _store(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 1, preferred_channel="letter", first_name="<Anne>", **HOME)  # K00001
    add_clients(store, 1, start=2, preferred_channel="letter", first_name="=1+1", **HOME)  # K00002
    add_clients(store, 1, start=3, preferred_channel="letter")  # no postal address
    add_clients(store, 1, start=4, preferred_channel="email", **HOME)  # prefers email: no letter
    add_clients(store, 1, start=5, preferred_channel="letter", coach="coach2", **HOME)  # not coach1's
    templates.add_template(store, ADMIN, "uitnodiging", "email", "Beste {{ first_name }},\n\nKom je dinsdag?",
                           subject="Uitnodiging")
    templates.add_template(store, ADMIN, "uitnodiging", "sms", "Kom je dinsdag?")
    return store


def test_a_postal_address_is_a_client_field_and_a_dutch_postcode_is_normalised(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 1)
    clients.update_client(store, ADMIN, "K00001", {"address": "Kerkweg 2", "postal_code": "1234ab", "city": "Testdorp"})
    assert store.db.execute("SELECT address, postal_code, city FROM clients").fetchone() == \
        ("Kerkweg 2", "1234 AB", "Testdorp")
    store.close()


def test_letters_as_printable_html_and_as_csv_for_a_mail_merge(tmp_path):
    from caseload.cli import main

    store = _store(tmp_path)
    plan = letters.plan_letters(store, COACH, "uitnodiging")
    assert [x.client_number for x in plan.letters] == ["K00001", "K00002"]
    assert dict(plan.skipped) == {"no_postal_address": 1}
    env = {"CASELOAD_DB": str(store.path), "CASELOAD_CONFIG": str(tmp_path / "config.toml"), "SUDO_USER": "coach1",
           "SUDO_UID": "", "LANG": "en_US.UTF-8"}
    out = tmp_path / "brieven.html"
    done = CliRunner().invoke(main, ["letter", "--template", "uitnodiging", "--output", str(out)], env=env)
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert page.count('<section class="letter"') == 2 and "size: A4" in page and "break-after: page" in page
    assert "Beste &lt;Anne&gt;," in page and "<Anne>" not in page  # a name is text, never markup
    assert "Dorpsstraat 1<br>1234 AB&nbsp;&nbsp;Testdorp" in page and "Uitnodiging" in page
    again = CliRunner().invoke(main, ["letter", "--template", "uitnodiging", "--output", str(out)], env=env)
    assert again.exit_code == 2  # an existing file is not replaced without --force
    rows = CliRunner().invoke(main, ["letter", "--template", "uitnodiging", "--format", "csv"], env=env)
    assert rows.exit_code == 0, rows.output
    table = list(csv.reader(io.StringIO(rows.stdout)))
    assert table[0] == list(letters.CSV_COLUMNS) and len(table) == 3
    assert table[2][1] == "'=1+1 Achternaam2" and table[2][7].startswith("Beste =1+1,")  # no formula for Excel
    audited = store.db.execute("SELECT COUNT(*) FROM audit WHERE action = 'letter'").fetchone()[0]
    assert audited == 4  # two letters, twice
    store.close()


def test_a_printed_letter_is_in_the_clients_conversation(tmp_path):
    from caseload import timeline

    store = _store(tmp_path)
    letters.write(store, COACH, letters.plan_letters(store, COACH, "uitnodiging"), io.StringIO())
    events = timeline.timeline(store, COACH, "K00001")
    assert [(e.kind, e.text, e.author) for e in events if e.kind == "letter"] == [("letter", "uitnodiging", "coach1")]
    assert not [e for e in timeline.timeline(store, ADMIN, "K00004") if e.kind == "letter"]  # prefers email
    store.close()
