"""The pages clients open from a message (one-tap answer, thank-you, an offered item, unsubscribe,
unsubscribed), in
the distribution's headless Chromium at phone width (360 and 320 CSS px), in Dutch and Arabic:
the text fits (nothing wider than the screen, nothing cut off), Arabic runs right to left, every
button is big enough for a thumb (44 CSS px, WCAG 2.5.5) and has a name a screen reader reads out
(the accessibility tree), and a tap on it does what it says. Screenshots: test-artifacts/browser/
(or $CASELOAD_ARTIFACTS/browser)."""

import os
from datetime import datetime, timezone

import pytest

from browser import Browser, Unavailable, artifacts_dir
from caseload import access, checkins, clients, items, offers
from caseload.daemon import webhooks
from daemon_support import HOOK
from servers import HOST, add_clients, free_port, make_store

pytestmark = pytest.mark.slow
ADMIN = access.Actor("admin", "admin")
THUMB = 44  # CSS px: WCAG 2.5.5 (target size), Apple's 44 pt

LAYOUT = """(() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const e of document.querySelectorAll('main, h1, p, form, button')) {
    const r = e.getBoundingClientRect();
    if (r.left < -0.5 || r.right > w + 0.5 || e.scrollWidth > e.clientWidth + 1)
      out.push(`${e.tagName} ${Math.round(r.left)}..${Math.round(r.right)} scroll ${e.scrollWidth} > ${e.clientWidth}`);
  }
  return {viewport: w, page: document.documentElement.scrollWidth, beyond: out};
})()"""

# which way the title runs: the x of its first and last letter, and its gaps to the heading's edges
DIRECTION = """(() => {
  const h = document.querySelector('h1'), text = h.firstChild, box = h.getBoundingClientRect();
  const at = (i) => { const r = document.createRange(); r.setStart(text, i); r.setEnd(text, i + 1);
                      return r.getBoundingClientRect(); };
  const all = document.createRange(); all.selectNodeContents(h); const t = all.getBoundingClientRect();
  return {direction: getComputedStyle(document.body).direction, lang: document.documentElement.lang,
          first: at(0).left, last: at(text.length - 1).left, gapLeft: t.left - box.left, gapRight: box.right - t.right};
})()"""

TARGETS = """[...document.querySelectorAll('button, a[href], input')].map(e => {
  const r = e.getBoundingClientRect(); return {text: e.textContent.trim(), width: r.width, height: r.height};
})"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        b = Browser(tmp_path_factory.mktemp("chromium"))
    except Unavailable as e:
        if os.environ.get("CASELOAD_BROWSER_REQUIRED"):
            pytest.fail(str(e))
        pytest.skip(str(e))
    yield b
    b.close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A store with one client who prefers email, and the daemon's endpoint over real HTTP."""
    from caseload.store import open_store

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("CASELOAD_WEBHOOK_TOKEN", HOOK)
    store = make_store(tmp_path)
    port = free_port()
    server = webhooks.serve(store.config, lambda: open_store(store.config, store.path), f"{HOST}:{port}")
    yield store, f"http://{HOST}:{port}"
    server.stop()
    store.close()


def check(browser, lang: str, name: str, buttons: int) -> dict:
    """The page now open fits a phone, runs the way its language does, and has `buttons` thumb-sized
    buttons with a name each; a screenshot is kept. Returns what DIRECTION found."""
    for width in (360, 320):
        browser.send("Emulation.setDeviceMetricsOverride", width=width, height=740, deviceScaleFactor=2, mobile=True)
        layout = browser.evaluate(LAYOUT)
        assert layout["page"] <= layout["viewport"] and not layout["beyond"], (lang, name, width, layout)
    browser.send("Emulation.setDeviceMetricsOverride", width=360, height=740, deviceScaleFactor=2, mobile=True)
    browser.screenshot(artifacts_dir("browser") / f"{lang}-{name}.png")

    way = browser.evaluate(DIRECTION)
    assert way["lang"] == lang
    if lang == "ar":  # the first letter is the rightmost, and the line starts at the right edge
        assert way["direction"] == "rtl" and way["first"] > way["last"], way
        assert abs(way["gapRight"]) <= 1 and way["gapLeft"] > 1, way
    else:
        assert way["direction"] == "ltr" and way["first"] < way["last"], way
        assert abs(way["gapLeft"]) <= 1 and way["gapRight"] > 1, way

    targets = browser.evaluate(TARGETS)
    assert len(targets) == buttons, targets
    for t in targets:
        assert t["width"] >= THUMB and t["height"] >= THUMB, (lang, name, t)
    tree = browser.accessibility()
    named = [n for role, n in tree if role == "button"]
    assert named == [t["text"] for t in targets] and all(named), (lang, name, tree)
    assert any(role == "heading" and n for role, n in tree), tree
    return way


@pytest.mark.parametrize("lang, words", [
    ("nl", {"confirm": "Verstuur", "thanks": "Dank je wel", "unsubscribe": "Afmelden", "unsubscribed": "afgemeld",
            "item": ("Zorgmedewerker in het verpleeghuis", "Parttime, 20 uur per week.", "Bekijk het aanbod")}),
    ("ar", {"confirm": "أرسل إجابتي", "thanks": "شكرًا لك", "unsubscribe": "إلغاء الاشتراك", "unsubscribed": "تم إلغاء",
            "item": ("مساعد رعاية في دار المسنين", "عمل بدوام جزئي، ٢٠ ساعة في الأسبوع.", "افتح العرض")}),
])
def test_the_pages_behind_links_on_a_phone(browser, served, lang, words):
    store, base = served
    add_clients(store, 1, language=lang, preferred_channel="email", first_name="Amal")
    checkins.round_now(store, ADMIN, "client_number = K00001", now=datetime.now(timezone.utc))
    body, token = store.db.execute("SELECT body, token FROM messages WHERE client_id = 1").fetchone()
    answers = [ln.split(": ", 1)[1] for ln in body.splitlines() if "/a/" in ln]
    assert len(answers) == 5
    path = answers[3].split("://", 1)[1].split("/", 1)[1]

    browser.open(f"{base}/{path}")  # the one-tap answer: a GET only shows it, with a button
    assert words["confirm"] in browser.evaluate("document.body.innerText")
    check(browser, lang, "answer", buttons=1)
    assert "wellbeing" not in {p.key for p in clients.profile(store, 1)}
    browser.tap("button")
    assert words["thanks"] in browser.evaluate("document.body.innerText")
    check(browser, lang, "thanks", buttons=0)
    assert {p.key: p.value for p in clients.profile(store, 1)}["wellbeing"] == 4

    title, text, button = words["item"]  # an item in the client's language, offered in a digest
    items.add(store, ADMIN, {"key": "zorg1", "kind": "vacancy", "title": title, "text": text, "url": f"{base}/health",
                             "tags": "zorg", "language": lang})
    offers.commit(store, ADMIN, offers.plan(store, ADMIN, "client_number = K00001", 1), None)
    (digest,) = store.db.execute("SELECT body FROM messages WHERE kind = 'campaign'").fetchone()
    (link,) = [w for w in digest.split() if "/l/" in w]
    browser.open(f"{base}/l/{link.split('/l/', 1)[1]}")
    assert button in browser.evaluate("document.body.innerText")
    check(browser, lang, "item", buttons=1)
    browser.tap("button")  # records the click, then on to the item's own page
    assert store.db.execute("SELECT COUNT(*) FROM clicks WHERE item_id IS NOT NULL").fetchone() == (1,)

    browser.open(f"{base}/unsubscribe/{token}")
    assert words["unsubscribe"] in browser.evaluate("document.body.innerText")
    check(browser, lang, "unsubscribe", buttons=1)
    assert store.db.execute("SELECT COUNT(*) FROM opt_outs").fetchone() == (0,)
    browser.tap("button")
    assert words["unsubscribed"] in browser.evaluate("document.body.innerText")
    check(browser, lang, "unsubscribed", buttons=0)
    assert store.db.execute("SELECT channel, source FROM opt_outs").fetchall() == [("email", "link")]
