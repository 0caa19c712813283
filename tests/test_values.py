"""Dutch value formats: property tests for the parsers."""

from datetime import date

import pytest
from hypothesis import given, strategies as st

from caseload import values


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_dates_dutch_and_iso(d):
    assert values.parse_date(d.isoformat()) == d
    assert values.parse_date(d.strftime("%d-%m-%Y")) == d
    assert values.parse_date(f"{d.day}-{d.month}-{d.year}") == d


@given(st.integers(-10**9, 10**9), st.integers(0, 99))
def test_decimal_comma(whole, frac):
    text = f"{whole},{frac:02d}"
    assert values.parse_number(text) == pytest.approx(float(f"{whole}.{frac:02d}"))


def test_thousands_and_junk():
    assert values.parse_number("1.234,5") == 1234.5
    assert values.parse_number("12") == 12
    for junk in ("1,2,3", "abc", "nan", "inf", ""):
        with pytest.raises(ValueError):
            values.parse_number(junk)


@pytest.mark.parametrize("raw", ["06-12345678", "0612345678", "+31 6 1234 5678", "0031612345678", "06 1234 5678"])
def test_phones_to_e164(raw):
    assert values.parse_phone(raw) == "+31612345678"


def test_landline_and_invalid_phones():
    assert values.parse_phone("020-1234567") == "+31201234567"
    for junk in ("12345", "06-1234", "0601234567", "hallo"):
        with pytest.raises(ValueError):
            values.parse_phone(junk)


@given(st.text(max_size=20))
def test_parsers_raise_only_value_error(text):
    for parse in (values.parse_date, values.parse_number, values.parse_bool, values.parse_phone, values.parse_email,
                  values.parse_int):
        try:
            parse(text)
        except ValueError:
            pass


_local = st.from_regex(r"[A-Za-z0-9_%+.-]{1,20}", fullmatch=True)
_domain = st.from_regex(r"([A-Za-z0-9-]{1,8}\.){1,3}[A-Za-z0-9]{1,6}", fullmatch=True)


@given(_local, _domain)
def test_email_fast_path_agrees_with_email_validator(local, domain):
    from email_validator import EmailNotValidError, SPECIAL_USE_DOMAIN_NAMES, validate_email

    assert set(SPECIAL_USE_DOMAIN_NAMES) == values._SPECIAL_USE
    address = f"{local}@{domain}"
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = values.parse_email(address)
    except ValueError:
        got = None
    assert got == expected
