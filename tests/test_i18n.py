"""One i18n layer: every key the code uses exists in Dutch and English, and both say the same
placeholders."""

import re
import string
from pathlib import Path

from caseload import i18n

ROOT = Path(__file__).resolve().parent.parent / "caseload"
KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[a-z0-9_.]*[a-z0-9_])["']""")  # "area.prefix." + x is dynamic


def used_keys() -> dict[str, str]:
    out = {}
    for path in ROOT.rglob("*.py"):
        for key in KEY.findall(path.read_text(encoding="utf-8")):
            out.setdefault(key, str(path.relative_to(ROOT)))
    return out


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_used_key_exists_in_both_languages():
    en, nl = i18n.texts("en"), i18n.texts("nl")
    missing = [f"{key} ({where})" for key, where in sorted(used_keys().items()) if key not in en or key not in nl]
    assert not missing, "missing texts: " + ", ".join(missing)


def test_dutch_and_english_have_the_same_keys_and_placeholders():
    en, nl = i18n.texts("en"), i18n.texts("nl")
    assert sorted(set(en) ^ set(nl)) == []
    # click's own words (click.*) are filled in by click: a translation may leave a value out
    differ = [k for k in en if fields(en[k]) != fields(nl[k]) and not (k.startswith("click.") and fields(nl[k]) <= fields(en[k]))]
    assert differ == []


def test_language_switch():
    assert i18n.t("value.yes", lang="nl") == "ja" and i18n.t("value.yes", lang="en") == "yes"
