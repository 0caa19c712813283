"""The default catalog and the rules every characteristic follows."""

import pytest

from caseload.catalog import characteristic_from_table, load_catalog
from caseload.config import load_config
from caseload.errors import BadInput


def test_default_catalog_is_complete_and_bilingual():
    catalog = load_catalog(load_config(None))
    assert len(catalog) == 80
    for c in catalog:
        assert c.label["nl"] and c.label["en"] and c.purpose, c.key
        assert c.question.get("nl") and c.question.get("en"), c.key
        if c.type == "enum":
            assert set(c.value_labels) == set(c.values), c.key
    for key in ("wellbeing", "physical_complaints", "low_literacy", "personal_problems", "childcare_arranged",
                "debts", "participation_ladder", "zrm_finances", "ph_meaning"):
        assert key in catalog
    assert catalog["wellbeing"].special and not catalog["debts"].special
    assert len([c for c in catalog if c.key.startswith("zrm_")]) == 13


BASE = {"key": "k", "type": "bool", "label": {"en": "K", "nl": "K"}, "category": "work", "purpose": "p"}


@pytest.mark.parametrize("change,needle", [
    ({"key": "Bad-Key"}, "key"),
    ({"type": "colour"}, "colour"),
    ({"type": "scale"}, "scale"),
    ({"type": "enum"}, "enum"),
    ({"label": {"en": "only english"}}, "nl"),
    ({"category": "vibes"}, "vibes"),
    ({"max_age_days": 0}, "max_age_days"),
    ({"colour": "red"}, "colour"),
])
def test_bad_entries_are_named(change, needle):
    with pytest.raises(BadInput) as e:
        characteristic_from_table({**BASE, **change}, "catalog.toml #3")
    assert "#3" in e.value.message and needle in e.value.message


def test_parse_accepts_dutch_and_labels():
    catalog = load_catalog(load_config(None))
    assert catalog["debts"].parse("Ja") is True
    assert catalog["transport"].parse("Openbaar vervoer") == "public_transport"
    with pytest.raises(ValueError):
        catalog["wellbeing"].parse("6")
    with pytest.raises(ValueError):
        catalog["transport"].parse("raket")


def test_key_keeps_its_type(tmp_path):
    from caseload.catalog_sync import sync_catalog
    from caseload.catalog import Catalog
    from caseload.store import open_store

    store = open_store(load_config(None), tmp_path / "x.db", create=True)
    changed = characteristic_from_table({**BASE, "key": "wellbeing", "type": "text"}, "x")
    with pytest.raises(BadInput, match="keeps its type"):
        sync_catalog(store.db, Catalog([changed]))
