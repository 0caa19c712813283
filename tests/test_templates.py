"""Templates: checking at add time (syntax with line, unknown names, special-category data),
rendering in the sandbox with language fallback, the SMS facts, preview and its audit."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseload import access, templates
from caseload.channels.sms import GSM_BASIC, GSM_EXTENDED, MAX_PARTS, sms_info
from caseload.clients import observe
from caseload.db import write_transaction
from caseload.errors import BadInput, NotFound, PermissionDenied
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
COACH = access.Actor("coach1", "coach", "t1")
ANALYST = access.Actor("ana", "analyst")


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path)
    yield s
    s.close()


def test_add_and_list_variants(store):
    templates.add_template(store, COACH, "tip", "sms", "Hoi {{ first_name }}")
    templates.add_template(store, COACH, "tip", "email", "Dag {{ first_name }}", subject="Hoi", language="en")
    rows = templates.list_templates(store)
    assert [(r["name"], r["channel"], r["language"]) for r in rows] == [("tip", "email", "en"), ("tip", "sms", "nl")]
    with pytest.raises(BadInput, match="exists already"):
        templates.add_template(store, COACH, "tip", "sms", "Anders")
    v = templates.add_template(store, COACH, "tip", "sms", "Anders {{ last_name }}", replace=True)
    assert v.body == "Anders {{ last_name }}"
    actions = [r[0] for r in store.db.execute("SELECT action FROM audit WHERE object LIKE 'template:%' ORDER BY id")]
    assert actions == ["template_add", "template_add", "template_change"]


def test_syntax_error_names_part_and_line(store):
    with pytest.raises(BadInput) as e:
        templates.add_template(store, COACH, "x", "email", "Regel een\nRegel {{ first_name ", subject="Hoi")
    assert "body, line 2" in e.value.message
    with pytest.raises(BadInput) as e:
        templates.add_template(store, COACH, "x", "email", "ok", subject="{% if %}")
    assert "subject, line 1" in e.value.message


def test_unknown_placeholder_names_line_column_and_suggests(store):
    with pytest.raises(BadInput) as e:
        templates.add_template(store, COACH, "x", "sms", "Hoi\n  {{ fist_name }}")
    msg = e.value.message
    assert "line 2, column 6" in msg and "fist_name" in msg and "first_name" in msg


def test_special_characteristic_refused_unless_allowed(tmp_path):
    store = make_store(tmp_path)
    special = next(c for c in store.catalog if c.special)
    with pytest.raises(BadInput, match="special-category"):
        templates.add_template(store, COACH, "x", "sms", f"Score {{{{ {special.key} }}}}")
    # also hidden inside an expression
    with pytest.raises(BadInput, match="special-category"):
        templates.add_template(store, COACH, "x", "sms", f"{{% if {special.key} > 2 %}}goed{{% endif %}}")
    store.close()
    # the same key with allow_in_messages = true in the catalog is accepted
    cfg = tmp_path / "config.toml"
    cat = tmp_path / "catalog.toml"
    from caseload.paths import package_data

    text = package_data("catalog.toml").read_text(encoding="utf-8")
    marker = f'key = "{special.key}"'
    assert marker in text
    cat.write_text(text.replace(marker, marker + "\nallow_in_messages = true", 1), encoding="utf-8")
    cfg.write_text(cfg.read_text() + '\n[catalog]\nfile = "catalog.toml"\n')
    from caseload.config import load_config
    from caseload.store import open_store

    store = open_store(load_config(cfg), tmp_path / "caseload.db")
    v = templates.add_template(store, COACH, "x", "sms", f"Score {{{{ {special.key} }}}}")
    assert special.key in templates.names_used(store, v)
    store.close()


def test_render_refuses_special_that_became_disallowed(store):
    special = next(c for c in store.catalog if c.special)
    # a template stored earlier (or edited behind our back) is checked again at render time
    with write_transaction(store.db) as conn:
        conn.execute("INSERT INTO templates (name, channel, language, body, created_at, updated_at)"
                     " VALUES ('old', 'sms', 'nl', ?, 'x', 'x')", [f"{{{{ {special.key} }}}}"])
    (cid,) = add_clients(store, 1)
    with pytest.raises(BadInput, match="special-category"):
        templates.preview(store, ADMIN, "old", "K00001")
    with pytest.raises(BadInput, match="special-category"):
        templates.context(store, {}, {}, {special.key}, "nl")


def test_sandbox_blocks_attribute_escape(store):
    add_clients(store, 1)
    templates.add_template(store, COACH, "evil", "sms", "{{ first_name.__class__.__mro__ }}")
    with pytest.raises(BadInput) as e:
        templates.preview(store, COACH, "evil", "K00001")
    assert "line 1" in e.value.message and "unsafe" in e.value.message


def test_render_error_never_shows_the_value(store):
    add_clients(store, 1, first_name="Geheimnaam")
    templates.add_template(store, COACH, "num", "sms", "{{ first_name | int(base=2) + 1 }}{{ 1 / 0 }}")
    with pytest.raises(BadInput) as e:
        templates.preview(store, COACH, "num", "K00001")
    assert "Geheimnaam" not in e.value.message and "ZeroDivisionError" in e.value.message


def test_language_fallback_and_values_in_the_texts_language(store):
    (cid,) = add_clients(store, 1, language="en")
    with write_transaction(store.db) as conn:
        observe(conn, store, cid, "debts", True, "2025-01-01T00:00:00Z", "coach", "coach1")
        observe(conn, store, cid, "interests", "fietsen", "2025-01-01T00:00:00Z", "coach", "coach1")
    templates.add_template(store, COACH, "t", "sms", "NL {{ debts }} {{ interests }} {{ organisation }}")
    p = templates.preview(store, COACH, "t", "K00001")
    # no English text: the Dutch one, with values in words of the text's language
    assert p["language"] == "nl" and p["body"] == "NL ja fietsen Gemeente Testdorp"
    templates.add_template(store, COACH, "t", "sms", "EN {{ debts }}", language="en")
    assert templates.preview(store, COACH, "t", "K00001")["body"] == "EN yes"


def test_missing_values_render_empty_not_none(store):
    add_clients(store, 1, first_name=None)
    templates.add_template(store, COACH, "t", "sms", "Hoi {{ first_name }}{{ interests }}!")
    assert templates.preview(store, COACH, "t", "K00001")["body"] == "Hoi !"


def test_preview_is_an_audited_view_and_scoped(store):
    (cid,) = add_clients(store, 1, coach="coach2")
    templates.add_template(store, ADMIN, "t", "sms", "Hoi {{ first_name }}")
    with pytest.raises(NotFound):
        templates.preview(store, COACH, "t", "K00001")
    templates.preview(store, ADMIN, "t", "K00001")
    assert store.db.execute("SELECT action FROM audit WHERE object = ?", [f"client:{cid}"]).fetchall() == [("view",)]
    with pytest.raises(PermissionDenied):
        templates.add_template(store, ANALYST, "t2", "sms", "x")


def test_email_rules(store):
    with pytest.raises(BadInput, match="subject"):
        templates.add_template(store, COACH, "e", "email", "body")
    with pytest.raises(BadInput, match="no subject"):
        templates.add_template(store, COACH, "s", "sms", "body", subject="x")
    v = templates.add_template(store, COACH, "e", "email", "Dag {{ first_name }}", subject="Hoi {{ first_name }}",
                               html="<p>Dag {{ first_name }}</p>")
    add_clients(store, 1, first_name="<b>Jan</b>")
    p = templates.preview(store, COACH, "e", "K00001")
    assert p["subject"] == "Hoi <b>Jan</b>" and p["body"] == "Dag <b>Jan</b>"
    assert p["html"] == "<p>Dag &lt;b&gt;Jan&lt;/b&gt;</p>"  # autoescaped in the HTML part only
    assert v.html


def test_sms_preview_facts(store):
    add_clients(store, 1)
    templates.add_template(store, COACH, "t", "sms", "Hoi {{ first_name }} 😀")
    p = templates.preview(store, COACH, "t", "K00001")
    assert (p["encoding"], p["parts"], p["characters"]) == ("UCS-2", 1, len("Hoi Voornaam1 😀"))


def test_too_long_sms_is_refused_when_rendered(store):
    add_clients(store, 1)
    templates.add_template(store, COACH, "t", "sms", "{% for i in range(60) %}Hoi {{ first_name }} 😀 {% endfor %}")
    with pytest.raises(BadInput, match=f"at most {MAX_PARTS}"):
        templates.preview(store, COACH, "t", "K00001")


def test_cli_template_commands(tmp_path):
    from click.testing import CliRunner

    from caseload.cli import main

    store = make_store(tmp_path)
    add_clients(store, 1)
    store.close()
    body = tmp_path / "body.txt"
    body.write_text("Dag {{ first_name }},\nhoe gaat het?", encoding="utf-8")
    runner = CliRunner()
    base = ["--db", str(tmp_path / "caseload.db"), "--config", str(tmp_path / "config.toml"), "--lang", "en"]
    env = {"SUDO_USER": "coach1"}
    r = runner.invoke(main, [*base, "template", "add", "tip", "--channel", "email", "--subject", "Hoi",
                             "--body-file", str(body)], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, [*base, "template", "add", "x", "--channel", "sms", "--body", "{{ nope }}"], env=env)
    assert r.exit_code == 2 and "Unknown placeholder 'nope'" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, [*base, "template", "add", "x", "--channel", "sms"], env=env)
    assert r.exit_code == 2 and "--body" in r.output
    r = runner.invoke(main, [*base, "template", "list", "--format", "json"], env=env)
    assert r.exit_code == 0 and '"name": "tip"' in r.output
    r = runner.invoke(main, [*base, "template", "show", "tip", "--format", "csv"], env=env)
    assert r.exit_code == 0 and "hoe gaat het?" in r.output
    r = runner.invoke(main, [*base, "template", "preview", "tip", "--client", "K00001", "--format", "json"], env=env)
    assert r.exit_code == 0 and "Dag Voornaam1" in r.output


# --- SMS facts: property tests --------------------------------------------------------------

GSM = sorted(GSM_BASIC | GSM_EXTENDED)


@given(st.text(alphabet=GSM, min_size=1, max_size=600))
@settings(max_examples=200, deadline=None)
def test_gsm_text_is_gsm7_and_parts_fit(text):
    info = sms_info(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text) + sum(1 for c in text if c in GSM_EXTENDED)
    assert (info.parts == 1) == (info.units <= 160)
    if info.parts > 1:
        assert (info.parts - 1) * 153 < info.units + info.parts  # no part needlessly empty
        assert info.units <= info.parts * 153


@given(st.text(min_size=1, max_size=400))
@settings(max_examples=200, deadline=None)
def test_any_text_has_consistent_facts(text):
    info = sms_info(text)
    assert info.characters == len(text)
    gsm = all(c in GSM_BASIC or c in GSM_EXTENDED for c in text)
    assert info.encoding == ("GSM-7" if gsm else "UCS-2")
    single, multi = (160, 153) if gsm else (70, 67)
    assert (info.parts == 1) == (info.units <= single)
    assert info.units <= max(single, info.parts * multi)


@given(st.text(alphabet=GSM, max_size=300), st.characters(blacklist_characters=GSM))
@settings(max_examples=100, deadline=None)
def test_one_non_gsm_character_switches_to_ucs2(text, other):
    assert sms_info(text + other).encoding == "UCS-2"


@given(st.text(max_size=300), st.text(min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_appending_never_needs_fewer_parts_in_the_same_encoding(text, more):
    a, b = sms_info(text), sms_info(text + more)
    if a.encoding == b.encoding:
        assert b.parts >= a.parts


def test_known_sms_sizes():
    assert sms_info("a" * 160).parts == 1
    assert sms_info("a" * 161).parts == 2
    assert sms_info("a" * 306).parts == 2 and sms_info("a" * 307).parts == 3
    assert sms_info("€" * 80).units == 160 and sms_info("€" * 80).parts == 1
    assert sms_info("é" * 70).encoding == "GSM-7"  # é is in the GSM basic set
    assert sms_info("ë" * 70).encoding == "UCS-2" and sms_info("ë" * 70).parts == 1
    assert sms_info("ë" * 71).parts == 2
    assert sms_info("😀" * 35).units == 70 and sms_info("😀" * 35).parts == 1
    assert sms_info("😀" * 100).parts == 4  # 33 pairs per part of 67 units: a pair is never split
