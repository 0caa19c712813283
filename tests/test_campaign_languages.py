"""A campaign in two languages end to end: an export with clients in Arabic, Turkish, Tigrinya and
Polish imports; a template with a Dutch and an Arabic variant for SMS and email is queued; the
confirmation says beforehand how many get Arabic and how many Dutch, and who gets their own
language, their second or the organisation's; `caseload send` (a real process) delivers Arabic to
the Arabic speakers and Dutch to the others, through the SMS provider stub and the SMTP sink. The
Arabic SMS is counted as UCS-2 (the provider is allowed the parts it needs) and the Arabic email
has an HTML part that runs right to left."""

import pytest

from console import caseload
from conftest import Cli
from daemon_support import env
from servers import SmsStub, SmtpSink, caseload_config

pytestmark = pytest.mark.slow

EXPORT = (  # as a municipality's system writes it: Dutch column names and language names
    "Klantnummer;Voornaam;Achternaam;Taal;Tweede taal;Telefoon;E-mail;Voorkeurskanaal;Coach\n"
    "2001;Amal;Haddad;Arabisch;Nederlands;0612345001;amal@testdorp.example;sms;coach1\n"
    "2002;Emre;Yilmaz;Turks;;0612345002;emre@testdorp.example;sms;coach1\n"
    "2003;Yonas;Tesfay;Tigrinya;Arabisch;0612345003;yonas@testdorp.example;e-mail;coach1\n"
    "2004;Ola;Nowak;Pools;;0612345004;ola@testdorp.example;e-mail;coach1\n"
    "2005;Samira;Ali;ar;;0612345005;samira@testdorp.example;e-mail;coach1\n"
    "2006;Jan;Jansen;Nederlands;;0612345006;jan@testdorp.example;sms;coach1\n"
)
NL_SMS = "Hoi {{ first_name }}, morgen is er een banenmarkt in het Werkplein. Kom je ook?"
AR_SMS = "مرحبًا {{ first_name }}، غدًا يوجد سوق للوظائف في مركز العمل. هل ستأتي؟ نحن في انتظارك من العاشرة صباحًا."


def test_dutch_to_some_arabic_to_others_as_the_confirmation_said(tmp_path):
    with SmtpSink() as sink, SmsStub("cm") as stub:
        caseload_config(tmp_path / "config.toml", sink.port, stub)
        cli = Cli(tmp_path).init()
        (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
        assert cli("user", "add", "coach1", "--role", "coach").exit_code == 0  # an import names known coaches
        r = cli("import", tmp_path / "export.csv")
        assert r.exit_code == 0, r.output
        for lang, channel, body, subject in (
                ("nl", "sms", NL_SMS, None), ("ar", "sms", AR_SMS, None),
                ("nl", "email", NL_SMS, "Banenmarkt"), ("ar", "email", AR_SMS, "سوق الوظائف")):
            r = cli("template", "add", "banenmarkt", "--channel", channel, "--lang", lang, "--body", body,
                    *(("--subject", subject) if subject else ()))
            assert r.exit_code == 0, r.output

        r = cli("queue", "--segment", "status = active", "--template", "banenmarkt", "--campaign", "banenmarkt",
                input="y\n")
        assert r.exit_code == 0, r.output
        said, asked = r.output.split("6 berichten klaarzetten?")  # the confirmation, then the answer
        assert ("Talen: ar 3, nl 3; 3 in de eigen taal van de klant, 1 in de tweede taal,"
                " 2 in de taal van de organisatie (nl).") in said
        assert "6 berichten klaargezet" in asked

        done = caseload("--db", cli.db, "--config", cli.config, "send", env=env())
        assert done.returncode == 0, done.stdout + done.stderr

    sms = {m.number: m for m in stub.received}
    assert set(sms) == {"+31612345001", "+31612345002", "+31612345006"} and not stub.problems
    assert sms["+31612345001"].body.startswith("مرحبًا Amal، غدًا")  # Arabic, her own language
    assert sms["+31612345002"].body.startswith("Hoi Emre, morgen")  # Turkish: no variant, so Dutch
    assert sms["+31612345006"].body.startswith("Hoi Jan, morgen")
    # Arabic is UCS-2: over 70 UTF-16 units is 2 parts (as GSM-7 it would have fit in one)
    assert 70 < len(sms["+31612345001"].body) <= 134 and sms["+31612345001"].parts == 2
    assert sms["+31612345006"].parts == 1

    mail = {m.rcpt_tos[0]: m.message for m in sink.received}
    assert set(mail) == {"yonas@testdorp.example", "ola@testdorp.example", "samira@testdorp.example"}
    for who, name in (("yonas", "Yonas"), ("samira", "Samira")):  # Tigrinya: his second language, Arabic
        m = mail[f"{who}@testdorp.example"]
        assert m["Subject"] == "سوق الوظائف"
        assert m.get_body(("plain",)).get_content().startswith(f"مرحبًا {name}، غدًا")
        html = m.get_body(("html",)).get_content()
        assert html.startswith('<!doctype html><html lang="ar" dir="rtl">') and f"مرحبًا {name}،" in html
    ola = mail["ola@testdorp.example"]
    assert ola["Subject"] == "Banenmarkt" and ola.get_body(("plain",)).get_content().startswith("Hoi Ola, morgen")
    assert ola.get_body(("html",)) is None  # left to right: plain text is enough
