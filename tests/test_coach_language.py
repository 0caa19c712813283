"""One language for the coach: with the Dutch UI, every CLI command's help and a usage error of
each, and every TUI screen, show no English word outside the accepted terms (command and option
names, their values, characteristic keys, product and protocol names).

An English word is one in tests/data/english_words.txt (in an English dictionary and not in a
Dutch one, made by tests/data/make_english_words.py), or one that the English locale says and
the Dutch locale never does."""

import re
import tomllib
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from caseload import i18n
from caseload.catalog import load_catalog
from caseload.cli import load_all, main
from caseload.config import load_config
from caseload.fields import FIELDS
from caseload.items import COLUMNS as ITEM_COLUMNS

load_all()
ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
BEFORE_SKIP = set("_-./={$@:\\<") | set("0123456789")
# names and terms that stay as they are in a Dutch UI
ACCEPTED = set("""
caseload sudo cron daemon webhooks webhook keyring syslog systemctl root sigterm html csv json xlsx sms
iso utf gsm ucs xdg lsb wilson toml mb ok auto id ids true false tab ctrl esc enter space shift up down pp
left right home end pgup pgdn backspace del twilio smtp imap http https textual rich python sqlite
columns
""".split())


def walk(cmd, path=()):
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(main))


@cache
def accepted() -> frozenset:
    """Command and option names, choice values, keys and field names, and ACCEPTED."""
    out = set(ACCEPTED)
    for path, cmd in COMMANDS:
        out.update(path)
        for p in cmd.params:
            for opt in (*p.opts, *p.secondary_opts):
                out.update(WORD.findall(opt))
            if isinstance(p.type, click.Choice):
                out.update(str(c) for c in p.type.choices)
    out.update(c.key for c in load_catalog(load_config(None)))
    out.update(FIELDS)
    out.update(ITEM_COLUMNS)
    return frozenset(w.lower() for w in out)


def _words_of_locale(lang: str) -> set[str]:
    return {w.lower() for text in i18n.texts(lang).values() for w in WORD.findall(str(text))}


@cache
def english_words() -> frozenset:
    listed = {w.strip() for w in (ROOT / "tests/data/english_words.txt").read_text().splitlines()
              if w.strip() and not w.startswith("#")}
    return frozenset((listed | (_words_of_locale("en") - _words_of_locale("nl"))) - accepted())


def english_in(text: str) -> list[str]:
    """The English words in a text meant to be Dutch, each with a little context."""
    found = []
    for m in WORD.finditer(text):
        before, after = text[m.start() - 1:m.start()], text[m.end():m.end() + 2]
        if before and before in BEFORE_SKIP:
            continue  # an option, a path, a key=value, a placeholder
        if after[:1].isalnum() or after[:1] in "_=(" or (after[:1] in "-.:/" and after[1:2].isalnum()):
            continue  # part of a name: file.csv, client:ID, check-in, Keuze(
        word = m.group().lower()
        if word in english_words():
            found.append(f"{m.group()!r} in {text[max(0, m.start() - 30):m.end() + 30]!r}")
    return found


# -- the mechanism ---------------------------------------------------------------------------------


def test_every_command_and_option_has_its_help_in_the_locale_in_both_languages():
    """Help lives in one place, locale/<lang>/help.toml: not in the code, not only in English."""
    from caseload.cli.localized import LocalizedCommand, command_key, help_for, option_name

    missing, in_code = [], []
    for path, cmd in COMMANDS:
        assert isinstance(cmd, LocalizedCommand), path
        key = command_key(path) + ".text"
        for lang in i18n.LANGUAGES:
            if not i18n.texts(lang).get(key):
                missing.append(f"{lang}: {key}")
        if cmd.__dict__.get("help"):
            in_code.append("caseload " + " ".join(path))
        ctx = click.Context(cmd)
        for p in [*cmd.params, cmd.get_help_option(ctx)]:
            if p is None or isinstance(p, click.Argument):
                continue
            for lang in i18n.LANGUAGES:
                i18n.set_language(lang)
                if not help_for(path, p):
                    missing.append(f"{lang}: {command_key(path)}.{option_name(p)} (or help.options)")
            if p.__dict__.get("help") and option_name(p) not in ("--help", "--version"):
                in_code.append(f"caseload {' '.join(path)} {option_name(p)}")
    i18n.set_language("en")
    assert not missing, "help missing from locale/<lang>/help.toml: " + ", ".join(missing)
    assert not in_code, ("help written in the code (docstring or help=): move it to locale/en/help.toml and "
                         "locale/nl/help.toml: " + ", ".join(in_code))


def test_the_word_check_finds_english():
    """The check itself: it must be able to fail."""
    assert english_in("Usage: caseload client set [OPTIONS] NUMBER KEY=VALUE...")
    assert english_in("Error: No such option '--hlp'.")
    assert english_in("esc Dismiss menu")
    assert english_in("Search for commands…")
    assert english_in("observed_at  value  source  author")  # value, source
    assert not english_in("Gebruik: caseload client set [OPTIES] NUMMER SLEUTEL=WAARDE...")
    assert not english_in("Fout: onbekende optie '--hlp'. Zie caseload client set --help, wellbeing=2, file.csv")


# -- the CLI in Dutch ------------------------------------------------------------------------------


def _usage_error(path: tuple, cmd) -> list[str]:
    """An argument line that makes click refuse the command before it runs."""
    if isinstance(cmd, click.Group):
        return [*path, "no-such-command"] if path else ["no-such-command"]
    return [*path, "--no-such-option"]


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) or "caseload" for p, _ in COMMANDS])
def test_help_and_a_usage_error_in_dutch_have_no_english(path, cmd):
    runner = CliRunner()
    helped = runner.invoke(main, ["--lang", "nl", *path, "--help"], env={"COLUMNS": "100"}, prog_name="caseload")
    wrong = runner.invoke(main, ["--lang", "nl", *_usage_error(path, cmd)], env={"COLUMNS": "100"}, prog_name="caseload")
    english = english_in(helped.output) + english_in(wrong.output)
    assert not english, "\n".join(english)
    assert helped.exit_code == 0 and helped.output.startswith("Gebruik: caseload"), helped.output
    assert wrong.exit_code == 2 and "Fout:" in wrong.output, wrong.output


def test_usage_errors_of_every_kind_in_dutch():
    runner = CliRunner()
    outputs = [runner.invoke(main, ["--lang", "nl", *args]).output for args in (
        ["client", "set"],                                  # a missing argument
        ["client", "outflow", "1", "--type", "lottery"],    # a bad choice
        ["client", "outflow", "1"],                         # a missing option
        ["demo", "--clients", "0"],                         # out of range
        ["demo", "--seed", "x"],                            # not a number
        ["client", "list", "--limti", "3"],                 # did you mean
        ["client", "list", "--limit"],                      # an option without its value
        ["client", "note", "1", "a", "b"],                  # an extra argument
    )]
    for out in outputs:
        assert "Fout:" in out, out
    assert "Argument ontbreekt 'NUMMER'" in outputs[0]
    english = [w for out in outputs for w in english_in(out)]
    assert not english, "\n".join(english)


def test_the_language_is_chosen_before_help_is_printed(tmp_path):
    """--lang, else the config's organisation.language, else the locale: also for `--help`."""
    config = tmp_path / "config.toml"
    config.write_text('[organisation]\nlanguage = "nl"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["--help", "--lang", "nl"]).output.startswith("Gebruik:")
    assert runner.invoke(main, ["--lang", "en", "--help"]).output.startswith("Usage:")
    assert runner.invoke(main, ["--config", str(config), "--help"], env={"LANG": "en_US.UTF-8"}).output.startswith(
        "Gebruik:")
    assert runner.invoke(main, ["client", "--help"], env={"LANG": "nl_NL.UTF-8"}).output.startswith("Gebruik:")
    assert runner.invoke(main, ["client", "--help"], env={"LANG": "en_US.UTF-8"}).output.startswith("Usage:")


def test_a_fresh_process_speaks_dutch_too():
    from console import caseload

    r = caseload("--lang", "nl", "client", "set", "--hlp")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "Gebruik: caseload client set [OPTIES] NUMMER SLEUTEL=WAARDE..." in err and "Onbekende optie" in err
    assert not english_in(err), err


def test_a_confirmation_asks_and_answers_in_dutch(cli):
    cli("client", "add", "client_number=1001")
    r = cli("--lang", "nl", "client", "forget", "1001", input="n\n")
    assert r.exit_code == 1
    assert "[j/N]" in r.stderr and "Niets gedaan." in r.stderr and "Aborted" not in r.output
    assert not english_in(r.stderr), r.stderr
    assert cli("--lang", "nl", "client", "forget", "1001", input="ja\n").exit_code == 0


def test_table_headers_for_people_follow_the_language_csv_keeps_the_keys(cli):
    cli("client", "add", "client_number=1001")
    cli("client", "set", "1001", "wellbeing=2")
    table = cli("--lang", "nl", "client", "history", "1001", "welbevinden").stdout
    assert "Waargenomen" in table and "observed_at" not in table and not english_in(table), table
    assert cli("--lang", "nl", "client", "history", "1001", "welbevinden", "--format", "csv").stdout.startswith(
        "observed_at,value,source,author")


def test_dutch_names_in_client_set_and_a_segment_through_the_console_script(tmp_path):
    """`caseload client set N welbevinden=3` and the filter `welbevinden <= 2` said "unknown
    characteristic"; as a person runs them: the installed script, a fresh process each."""
    from console import caseload, clean_env

    env = clean_env(HOME=str(tmp_path), CASELOAD_DB=str(tmp_path / "c.db"), LANG="nl_NL.UTF-8")
    for args in (["init"], ["client", "add", "client_number=1001"], ["client", "add", "client_number=1002"],
                 ["client", "set", "1001", "welbevinden=3", "schulden=ja"], ["client", "set", "1002", "welbevinden=1"]):
        r = caseload(*args, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr.decode()
    history = caseload("client", "history", "1001", "wellbeing", "--format", "csv", env=env, cwd=tmp_path)
    assert history.stdout.decode().splitlines()[1].split(",")[1] == "3"
    r = caseload("segment", "check", "welbevinden <= 2 en schulden = nee", env=env, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.decode().strip() == "wellbeing <= 2 and debts = false", r.stderr.decode()
    r = caseload("segment", "list", "welbevinden <= 2", "--format", "csv", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    assert [line.split(",")[0] for line in r.stdout.decode().splitlines()[1:]] == ["1002"]


def test_a_missing_secret_and_channel_trouble_are_told_in_words(cli):
    from caseload import display

    i18n.set_language("nl")
    text = display.reason("sms_token_missing")
    assert "CASELOAD_SMS_TOKEN" in text and "keyring set caseload sms_token" in text and not english_in(text), text
    for code in ("smtp_password_missing", "cm 401 authentication", "smtp login 535", "tls SSLError",
                 "connection lost", "no_address", "twilio_account_missing", "messagebird connect ConnectError"):
        text = display.reason(code)
        assert text != code and not english_in(text), (code, text)
    i18n.set_language("en")
    assert "CASELOAD_SMTP_PASSWORD" in display.reason("smtp_password_missing")


@pytest.mark.parametrize("body", ["Hoi {{ first_name }", "{% iff x %}", "{{ first_name | foo }}",
                                  "{% if first_name %}hoi", "{{ first_name y }}", "Hoi {{ }}", "{{ x! }}"])
def test_template_errors_in_dutch(cli, body):
    r = cli("--lang", "nl", "template", "add", "t", "--channel", "sms", "--body", body)
    assert r.exit_code == 2 and "Fout:" in r.output, r.output
    assert not english_in(re.sub(r"'[^']*'", "", r.output)), r.output  # quoted: the template's own words


def test_the_demo_summary_speaks_dutch(tmp_path):
    """The README's first command prints the demo's counts: 'replies', 'clicks' and 'follow_ups'
    came out as keys in the Dutch UI."""
    from conftest import Cli

    r = Cli(tmp_path)("--lang", "nl", "demo", "--clients", "60")
    assert r.exit_code == 0, r.output
    assert "Reacties" in r.stdout and "Opvolgingen" in r.stdout, r.stdout
    assert not english_in(r.stdout) and "follow_ups" not in r.stdout, r.stdout
