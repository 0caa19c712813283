"""A template is untrusted work: rendering has a budget of steps, time and size. A template over
budget is refused when it is saved (rendered for a made-up client), and a template over budget
that is already in the database fails its messages with a reason when the daemon queues a
campaign, without stalling the loop or stopping the other campaigns."""

import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from caseload import access, campaigns, sandbox, templates
from caseload.clock import utcnow
from caseload.db import write_transaction
from caseload.errors import BadInput
from servers import add_clients, make_store

ADMIN = access.Actor("admin", "admin")
MON = datetime(2025, 6, 16, 8, 0, tzinfo=timezone.utc)
NESTED = "{% for a in range(10**6) %}{% for b in range(10**6) %}x{% endfor %}{% endfor %}"
NESTED_MAX_RANGE = "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("CASELOAD_WEBHOOK_TOKEN", raising=False)
    s = make_store(tmp_path)
    yield s
    s.close()


def within(seconds, fn, *args, **kwargs):
    """Run fn; fail (instead of hanging the suite) when it takes longer than `seconds`."""
    def late(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, late)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("body", [NESTED, NESTED_MAX_RANGE, "Hoi {{ first_name }}" + NESTED_MAX_RANGE])
def test_nested_loops_are_refused_when_saved(store, body):
    with pytest.raises(BadInput, match="too much work to render") as e:
        within(10, templates.add_template, store, ADMIN, "loops", "email", body, subject="Hoi")
    assert "(body)" in e.value.message
    assert store.db.execute("SELECT COUNT(*) FROM templates").fetchone() == (0,)


@pytest.mark.parametrize("source", [
    '{{ "x" * 10**9 }}',
    '{{ "x".center(10**9) }}',
    '{{ "x"|center(1000000000) }}',
    '{{ 10 ** 100000 }}',
    '{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}',
    '{{ "%999999999d" % 1 }}',
    '{{ "{:>999999999}".format(1) }}',
    '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}',
    '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}',
    '{% set s = "x" * 100000 %}{{ s.replace("x", s) }}',
    '{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(40) }}',
    '{% macro m() %}{% for i in range(100000) %}{{ "y" * 1000 }}{% endfor %}{% endmacro %}{{ m() }}',
    '{% for x in [range(100000)] recursive %}{{ loop(range(100000)) if loop.depth < 3 }}{% endfor %}',
    '{{ lipsum(1000000) }}',
])
def test_other_ways_to_make_work_are_refused_too(store, source):
    with pytest.raises(BadInput):
        within(10, templates.add_template, store, ADMIN, "bomb", "sms", source)


def test_the_wall_clock_limit_holds_when_steps_are_allowed():
    compiled = templates.environment().from_string(NESTED_MAX_RANGE)
    limits = sandbox.Limits(steps=10**12, seconds=0.2, output=10**12)
    started = time.monotonic()
    with pytest.raises(sandbox.OverBudget) as e:
        sandbox.render(compiled, {}, limits)
    assert e.value.what == "time" and time.monotonic() - started < 5


def test_ordinary_templates_render_as_before(store):
    add_clients(store, 1)
    body = ("Hoi {{ first_name }},{% for i in range(3) %} {{ loop.index }}{% endfor %}"
            " {{ '%s-%s' % (first_name, last_name) }} {{ [first_name, last_name]|join(' ') }}"
            " {{ '{} {}'.format(first_name, 'x') }} {{ first_name|upper ~ '!' }} {{ 2 ** 10 }}")
    templates.add_template(store, ADMIN, "gewoon", "email", body, subject="Hoi {{ first_name }}",
                           html="<p>{{ first_name }}</p>")
    out = templates.preview(store, ADMIN, "gewoon", "K00001")
    assert out["body"] == ("Hoi Voornaam1, 1 2 3 Voornaam1-Achternaam1 Voornaam1 Achternaam1 Voornaam1 x"
                           " VOORNAAM1! 1024")
    assert out["html"] == "<p>Voornaam1</p>"


def put_template(store, name, body):
    """A template as an older version saved it, without the check."""
    now = utcnow()
    with write_transaction(store.db) as conn:
        conn.execute("INSERT INTO templates (name, channel, language, subject, body, html, author, created_at,"
                     " updated_at) VALUES (?, 'sms', 'nl', NULL, ?, NULL, 'admin', ?, ?)", [name, body, now, now])


def test_the_daemon_fails_the_messages_of_a_template_over_budget_and_goes_on(store):
    add_clients(store, 3, preferred_channel="sms")
    put_template(store, "loops", NESTED_MAX_RANGE)
    templates.add_template(store, ADMIN, "tip", "sms", "Hoi {{ first_name }}")
    campaigns.add(store, ADMIN, "a_loops", "loops", "status = active", once="2025-06-16 10:00", now=MON - timedelta(days=1))
    campaigns.add(store, ADMIN, "b_tip", "tip", "status = active", once="2025-06-16 10:00", now=MON - timedelta(days=1))
    done = within(20, campaigns.run_due, store, MON + timedelta(minutes=1))
    assert done["occurrences"] == 2
    rows = store.db.execute("SELECT c.name, m.status, m.reason FROM messages m JOIN campaigns c ON c.id = m.campaign_id"
                            " ORDER BY c.name, m.client_id").fetchall()
    assert [(n, s) for n, s, _ in rows] == [("a_loops", "failed")] * 3 + [("b_tip", "queued")] * 3
    assert all("too much work to render" in r for _, _, r in rows[:3])
    # the occurrence is done: the next tick does not render it again
    assert within(5, campaigns.run_due, store, MON + timedelta(minutes=2))["occurrences"] == 0
