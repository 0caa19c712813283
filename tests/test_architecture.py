"""ARCHITECTURE.md lists every module under caseload/ in its tree, so that a reader finds each
one and a new module gets its line (the failure names what is missing and where it goes)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "caseload"
ENTRY = re.compile(r"(caseload/)?[a-z_][a-z0-9_/]*(\.py|/)")


def listed(text: str) -> tuple[set[str], set[str]]:
    """(paths the tree names, relative to caseload/; the entries that start a line). An entry
    is the first word of a line, under the package of the nearest line above that is less
    indented; a package's line and its continuation lines may also name its modules inline."""
    tree = text.split("```")[1]
    names, entries, stack, package = set(), set(), [], None
    for line in tree.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first = line.split()[0]
        if indent >= 20 or not ENTRY.fullmatch(first):  # a description going on
            if package is not None:
                names.update(package + n for n in re.findall(r"\b[a-z_][a-z0-9_]*\.py\b", line))
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = first.removeprefix("caseload/") if first.startswith("caseload/") else (stack[-1][1] if stack else "") + first
        names.add(path)
        entries.add(path)
        package = path if path.endswith("/") else None
        if package is not None:
            stack.append((indent, path))
            names.update(package + n for n in re.findall(r"\b[a-z_][a-z0-9_]*\.py\b", line.split(None, 1)[-1]))
    return names, entries


def modules() -> set[str]:
    """Every module and package under caseload/, as the tree names them (a package's
    __init__.py is its own line: `outbox/`)."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        out.add(rel[: -len("__init__.py")] if rel.endswith("__init__.py") else rel)
    out.discard("")
    return out


def test_every_module_is_in_architecture_md():
    names, entries = listed((ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8"))
    missing = sorted(modules() - names)
    assert not missing, ("ARCHITECTURE.md does not list: " + ", ".join(f"caseload/{m}" for m in missing)
                         + ". Add a line for each to the tree, under its package, with what it holds.")
    gone = sorted(e for e in entries if e and e not in modules())
    assert not gone, "ARCHITECTURE.md lists modules that do not exist: " + ", ".join(gone)


def test_the_check_finds_a_missing_module():
    names, _ = listed("```\ncaseload/   core\n  a.py       x\n  pkg/       y: b.py,\n             c.py\n"
                      "    d.py     z\ncaseload/tui/  t\n    e.py     w\n```")
    assert names == {"", "a.py", "pkg/", "pkg/b.py", "pkg/c.py", "pkg/d.py", "tui/", "tui/e.py"}
