"""Client languages: any ISO 639-1 code (or its name in Dutch, English or the language itself), an
optional second language, templates and catalog texts in any language, and the choice of a
message's language: the client's own, else their second, else the organisation's."""

import pytest

from caseload import access, importer, languages, segments, templates
from caseload.catalog import characteristic_from_table
from caseload.errors import BadInput
from conftest import Cli, snapshot_tables
from servers import add_clients, make_store

COACH = access.Actor("coach1", "coach", "t1")

EXPORT = (  # as a municipality's system writes it: Dutch names, a code, a locale tag, ISO 639-2
    "Klantnummer;Voornaam;Taal;Tweede taal;Telefoon\n"
    "2001;Amal;Arabisch;Nederlands;0612345001\n"
    "2002;Emre;Turks;;0612345002\n"
    "2003;Yonas;Tigrinya;Arabisch;0612345003\n"
    "2004;Ola;Pools;en;0612345004\n"
    "2005;Olena;uk-UA;ru;0612345005\n"
    "2006;Reza;Perzisch/Farsi;;0612345006\n"
    "2007;Hodan;som;;0612345007\n"
    "2008;Jan;Nederlands;;0612345008\n"
)


@pytest.mark.parametrize("raw, code", [
    ("ar", "ar"), ("Arabisch", "ar"), ("Arabic", "ar"), ("العربية", "ar"), ("ARA", "ar"), ("ar-MA", "ar"),
    ("Turks", "tr"), ("Türkçe", "tr"), ("Pools", "pl"), ("polski", "pl"), ("Tigrinya", "ti"), ("ትግርኛ", "ti"),
    ("Oekraïens", "uk"), ("Oekraiens", "uk"), ("Somalisch", "so"), ("Soomaali", "so"), ("Perzisch", "fa"),
    ("Farsi", "fa"), ("Perzisch/Farsi", "fa"), ("Dari", "fa"), ("per", "fa"), ("nl_NL", "nl"), ("Engels", "en"),
])
def test_a_language_is_found_by_code_tag_or_name(raw, code):
    assert languages.lookup(raw) == code


@pytest.mark.parametrize("raw", ["", "xx", "Klingon", "Arabisch/Turks", "Berbers", "12"])
def test_what_is_not_one_language_is_not_found(raw):
    assert languages.lookup(raw) is None


def test_the_table_has_every_iso_639_1_code_and_knows_which_run_right_to_left():
    table = languages.table()
    assert len(table) == 184 and all(len(code) == 2 for code in table)
    assert {c for c in table if languages.rtl(c)} >= {"ar", "fa", "he", "ur", "ps", "yi"}
    assert not any(languages.rtl(c) for c in ("nl", "en", "tr", "pl", "uk", "so", "ti"))


def test_an_export_with_arabic_turkish_tigrinya_and_polish_clients_imports_and_exports_again(tmp_path):
    cli = Cli(tmp_path).init()
    src = tmp_path / "export.csv"
    src.write_text(EXPORT, encoding="utf-8")
    r = cli("import", src)
    assert r.exit_code == 0, r.output
    conn = __import__("sqlite3").connect(cli.db)
    rows = dict((n, (l1, l2)) for n, l1, l2 in conn.execute(
        "SELECT client_number, language, second_language FROM clients"))
    assert rows == {"2001": ("ar", "nl"), "2002": ("tr", None), "2003": ("ti", "ar"), "2004": ("pl", "en"),
                    "2005": ("uk", "ru"), "2006": ("fa", None), "2007": ("so", None), "2008": ("nl", None)}
    out = tmp_path / "again.csv"
    r = cli("export", "--output", out)
    assert r.exit_code == 0, r.output
    header, *lines = out.read_text(encoding="utf-8").splitlines()
    assert "language" in header.split(",") and "second_language" in header.split(",")
    other = tmp_path / "other"
    other.mkdir()
    cli2 = Cli(other).init()
    r = cli2("import", out)
    assert r.exit_code == 0, r.output
    conn2 = __import__("sqlite3").connect(cli2.db)
    assert dict((n, (l1, l2)) for n, l1, l2 in conn2.execute(
        "SELECT client_number, language, second_language FROM clients")) == rows


def test_an_unknown_language_is_a_cell_error_naming_the_row_and_nothing_is_written(tmp_path):
    cli = Cli(tmp_path).init()
    before = snapshot_tables(cli.db)
    src = tmp_path / "bad.csv"
    src.write_text("Klantnummer;Taal\n3001;Arabisch\n3002;Klingon\n", encoding="utf-8")
    r = cli("import", src)
    assert r.exit_code == 2
    assert "3" in r.output and "Taal" in r.output and "ISO 639-1" in r.output and "Traceback" not in r.output
    assert snapshot_tables(cli.db) == before


def test_client_set_and_segments_take_a_language_by_name(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 3)
    admin = access.resolve_actor(store.db, "admin")
    from caseload import clients

    clients.update_client(store, admin, "K00001", {"language": "Arabisch", "second_language": "Engels"})
    clients.update_client(store, admin, "K00002", {"language": "tr"})
    where, params = segments.resolve_where(store, "taal = Arabisch or language = Turks")
    ids = [r[0] for r in store.db.execute(f"SELECT client_number FROM clients WHERE {where} ORDER BY 1", params)]
    assert ids == ["K00001", "K00002"]
    where, params = segments.resolve_where(store, "tweede_taal = en")
    assert [r[0] for r in store.db.execute(f"SELECT client_number FROM clients WHERE {where}", params)] == ["K00001"]
    store.close()


def test_templates_take_any_iso_code_and_pick_own_then_second_then_fallback(tmp_path):
    store = make_store(tmp_path)
    for lang, text in (("nl", "Hoi"), ("ar", "مرحبا"), ("tr", "Merhaba")):
        templates.add_template(store, COACH, "tip", "sms", text, language=lang)
    v = templates.add_template(store, COACH, "tip", "sms", "Cześć", language="Pools")
    assert v.language == "pl"
    with pytest.raises(BadInput, match="ISO 639-1"):
        templates.add_template(store, COACH, "tip", "sms", "?", language="xx")
    found = templates.variants(store, "tip")
    assert templates.pick(found, "sms", "ar", "nl", None).language == "ar"
    assert templates.pick(found, "sms", "ti", "nl", "tr").language == "tr"
    assert templates.pick(found, "sms", "so", "nl", "fa").language == "nl"
    assert languages.choose({"nl", "tr"}, "ti", "tr", "nl") == ("tr", languages.SECOND)
    assert languages.choose({"nl"}, "ti", "tr", "nl") == ("nl", languages.FALLBACK)
    assert languages.choose({"nl", "ti"}, "ti", None, "nl") == ("ti", languages.OWN)
    store.close()


def test_a_template_preview_counts_sms_parts_for_the_script_used(tmp_path):
    store = make_store(tmp_path)
    add_clients(store, 2)
    admin = access.resolve_actor(store.db, "admin")
    from caseload import clients

    clients.update_client(store, admin, "K00002", {"language": "ar"})
    templates.add_template(store, COACH, "t", "sms", "Hallo {{ first_name }}, " + "x" * 130, language="nl")
    templates.add_template(store, COACH, "t", "sms", "مرحبا {{ first_name }}، " + "ب" * 60, language="ar")
    nl = templates.preview(store, admin, "t", "K00001")
    ar = templates.preview(store, admin, "t", "K00002")
    assert (nl["language"], nl["encoding"], nl["parts"]) == ("nl", "GSM-7", 1)  # 150 septets: one part of 160
    assert (ar["language"], ar["encoding"], ar["language_fit"]) == ("ar", "UCS-2", "own")
    assert ar["characters"] > 70 and ar["parts"] == 2  # over 70 UCS-2 units: parts of 67
    store.close()


@pytest.mark.parametrize("html, code, expected", [
    ("<p>مرحبا</p>", "ar", '<div lang="ar" dir="rtl"><p>مرحبا</p></div>'),
    ("<html><body>x</body></html>", "fa", '<html lang="fa" dir="rtl"><body>x</body></html>'),
    ('<html lang="ar"><body>x</body></html>', "ar", '<html lang="ar" dir="rtl"><body>x</body></html>'),
    ('<html dir="ltr"><body>x</body></html>', "ar", '<html dir="ltr" lang="ar"><body>x</body></html>'),
    ("<p>Hoi</p>", "nl", "<p>Hoi</p>"),
    ("<html><p>Hoi</p></html>", "nl", '<html lang="nl"><p>Hoi</p></html>'),
    (None, "ar", None),
])
def test_html_says_its_language_and_right_to_left_runs_right_to_left(html, code, expected):
    assert languages.mark_html(html, code) == expected


def test_catalog_texts_take_any_language_key_but_only_iso_codes():
    base = {"key": "k", "type": "bool", "label": {"en": "K", "nl": "K"}, "category": "social", "purpose": "p"}
    c = characteristic_from_table({**base, "question": {"en": "Q?", "nl": "V?", "ar": "س؟"}}, "test #1")
    assert c.question["ar"] == "س؟"
    with pytest.raises(BadInput, match="question.xx"):
        characteristic_from_table({**base, "question": {"en": "Q?", "nl": "V?", "xx": "?"}}, "test #1")
    with pytest.raises(BadInput, match="label.tr"):
        characteristic_from_table({**base, "label": {"en": "K", "nl": "K", "tr": ""}}, "test #1")


def test_importing_a_language_column_by_its_english_name(store, admin, tmp_path):
    path = tmp_path / "en.csv"
    path.write_text("Client number,Language,Second language\n1,Arabic,Dutch\n", encoding="utf-8")
    importer.import_file(store, admin, path)
    assert store.db.execute("SELECT language, second_language FROM clients").fetchone() == ("ar", "nl")


def test_a_plain_text_in_a_right_to_left_language_gets_html_that_runs_right_to_left():
    html = languages.text_html("مرحبا <b>\nhttps://werk.example/v?id=1&x=2 شكرا", "ar")
    assert html.startswith('<!doctype html><html lang="ar" dir="rtl">')
    assert "مرحبا &lt;b&gt;\n" in html and "white-space:pre-wrap" in html
    assert '<a href="https://werk.example/v?id=1&amp;x=2">https://werk.example/v?id=1&amp;x=2</a> شكرا' in html


def test_a_digest_to_an_arabic_speaker_is_in_arabic_and_its_email_runs_right_to_left(tmp_path, monkeypatch):
    from caseload import items, offers

    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", "hook-secret-3e9a")
    store = make_store(tmp_path)
    admin = access.resolve_actor(store.db, "admin")
    add_clients(store, 1, language="ar", first_name="Amal")
    add_clients(store, 1, start=2, language="so", preferred_channel="sms")
    for key, lang in (("ar1", "ar"), ("so1", "so")):
        items.add(store, admin, {"key": key, "kind": "tip", "title": f"{key} title", "url": "https://werk.example/x",
                                 "language": lang})
    plan = offers.plan(store, admin, "status = active", 1)
    assert plan.reach().describe_languages(plan.fallback) == (  # what the CLI says before it asks
        "Languages: ar 1, so 1; 2 in the client's own language, 0 in their second language, 0 in the organisation's (nl).")
    offers.commit(store, admin, plan, None)
    mail, sms = store.db.execute("SELECT subject, body, html, language FROM messages ORDER BY client_id").fetchall()
    assert mail[0] == "عروض لك (1)" and mail[1].startswith("مرحبًا Amal،\n\nقد يناسبك هذا:\n\n1. ar1 title")
    assert mail[2].startswith('<!doctype html><html lang="ar" dir="rtl">') and mail[3] == "ar"
    assert sms[1].startswith("Salaan Voornaam2, kuwani") and sms[1].endswith("Ku jawaab STOP.") and sms[3] == "so"
    store.close()
