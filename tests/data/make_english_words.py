"""Build tests/data/english_words.txt: words people may see from caseload and its libraries in
English, that are in an English dictionary (wamerican) and not in a Dutch one (wdutch)."""
import ast, pathlib, re, tomllib, sys
import click, textual
ROOT = pathlib.Path(__file__).resolve().parents[2]
WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
english = {w.strip() for w in open("/usr/share/dict/american-english", encoding="utf-8") if w.strip().islower()}
dutch = {w.strip().lower() for w in open("/usr/share/dict/dutch", encoding="utf-8")}
texts = []
def flat(d):
    for v in d.values():
        if isinstance(v, dict): yield from flat(v)
        else: yield str(v)
for p in (ROOT / "caseload/locale/en").glob("*.toml"):
    texts += list(flat(tomllib.load(open(p, "rb"))))
for p in [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "docs").glob("*.md")]:
    texts.append(p.read_text())
# strings click and textual show to people
for pkg in (click, textual):
    for p in pathlib.Path(pkg.__file__).parent.rglob("*.py"):
        try: tree = ast.parse(p.read_text())
        except Exception: continue
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                name = getattr(n.func, "attr", getattr(n.func, "id", ""))
                if name in ("_", "ngettext", "Binding", "SystemCommand", "notify", "Hit", "DiscoveryHit"):
                    texts += [a.value for a in n.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                for k in n.keywords:
                    if k.arg in ("placeholder", "description", "tooltip", "prompt", "help", "title") and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str):
                        texts.append(k.value.value)
            if isinstance(n, ast.Tuple) and len(n.elts) == 3 and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in n.elts):
                texts.append(n.elts[2].value)  # a Binding as a tuple: (key, action, description)
            if isinstance(n, ast.arguments):
                for a, d in zip(n.args[::-1] + n.kwonlyargs[::-1], n.defaults[::-1] + n.kw_defaults[::-1]):
                    if a.arg in ("placeholder", "description", "prompt", "title") and isinstance(d, ast.Constant) and isinstance(d.value, str):
                        texts.append(d.value)
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("placeholder", "PLACEHOLDER") for t in n.targets):
                if isinstance(n.value, ast.Constant) and isinstance(n.value.value, str): texts.append(n.value.value)
# English words that the Dutch dictionary also lists (loans, abbreviations) but that a Dutch
# sentence would not use: chosen by hand.
HAND = """the not to it at be on more are every does must has but else all can do may who same get will
then without have these both none ever look smaller takes take made make keep goes shows starts runs
running selects prints opens sent new out up back day time row column columns file name key field
missing save queue show exit profile report reports cancel delete preview enter source target sample
subject body age free high condition template templates seal places small keys palette reply limit
directory weeks state min go random hash complete nobody power second range form special screen
continue move search commands command dismiss menu theme usage options option message messages
aborted error such try for this that with from and or no yes by if when where which what there their
they you your we our its than only each other some any after before into about been being were would
could should here how why also just like many much very first next now once one two three people
help list close quit select""".split()
words = set(HAND)
for t in texts:
    for w in WORD.findall(t):
        w = w.lower()
        if len(w) >= 2 and w in english and w not in dutch:
            words.add(w)
out = ROOT / "tests/data/english_words.txt"
out.parent.mkdir(exist_ok=True)
out.write_text("# English words caseload, click or Textual may show, in an English dictionary (Debian's wamerican)\n"
               "# and not in a Dutch one (wdutch), and common English words that the Dutch list also has\n"
               "# (HAND); made with tests/data/make_english_words.py (needs wamerican and wdutch).\n"
               + "\n".join(sorted(words)) + "\n")
print(len(words))
