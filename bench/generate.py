"""Generated data for the benchmarks: whole databases (cached under bench/data/) and the
Dutch Excel-style CSV that the import benchmark reads."""

import csv
import os
import random
import sys
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"
sys.path.insert(0, str(ROOT.parent))

from caseload import demo  # noqa: E402
from caseload.catalog import load_catalog  # noqa: E402
from caseload.config import load_config  # noqa: E402
from caseload.db import refresh_statistics  # noqa: E402
from caseload.store import open_store  # noqa: E402


def schema_version() -> str:
    """Cached databases are rebuilt when the migrations change."""
    import hashlib

    return hashlib.sha256((ROOT.parent / "caseload" / "migrations.py").read_bytes()).hexdigest()[:8]


def build(path: Path | str | None = None, clients: int = 100_000, seed: int = 1) -> Path:
    """A full database: default catalog (80 characteristics), clients, two years of history,
    interventions and outflow. Cached: the same size and seed is built once."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = Path(path) if path else DATA / f"caseload-{clients}-{seed}-{schema_version()}.db"
    if path.exists():
        return path
    tmp = path.with_suffix(f".building-{os.getpid()}")  # another process may build the same one
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    store = open_store(load_config(None), tmp, create=True)
    demo.build(store, clients, seed=seed, admin="bench")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    refresh_statistics(store.db)  # as an import and the daemon's nightly job leave it
    store.close()
    os.replace(tmp, path)
    return path


def _dutch_cell(c, rng: random.Random) -> str:
    if c.type == "bool":
        return rng.choice(("ja", "nee"))
    if c.type == "scale":
        return str(rng.randint(c.min, c.max))
    if c.type == "enum":
        return rng.choice(c.values)
    if c.type == "number":
        hi = c.max if c.max is not None else 40
        return f"{rng.uniform(0, hi):.1f}".replace(".", ",")
    if c.type == "date":
        return (date(2020, 1, 1) + timedelta(days=rng.randint(0, 1800))).strftime("%d-%m-%Y")
    return rng.choice(("koken", "fietsen", "muziek", "techniek", "zorg"))


def import_csv(clients: int = 100_000, seed: int = 1, fill: float = 0.85) -> Path:
    """A municipality's export: semicolons, cp1252, Dutch labels, Dutch dates, ja/nee, 06-numbers."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"import-{clients}-{seed}.csv"
    if path.exists():
        return path
    catalog = load_catalog(load_config(None))
    rng = random.Random(seed)
    chars = list(catalog)
    header = ["Klantnummer", "Voornaam", "Achternaam", "E-mail", "Telefoon", "Taal", "Voorkeurskanaal", "Coach",
              "Datum instroom", "Geboortedatum"] + [c.label["nl"] for c in chars]
    firsts = ["Jan", "Fatima", "Sanne", "Mohamed", "Els", "Joëlle", "Kees", "Zoë", "Daan", "Priya"]
    lasts = ["de Vries", "Jansen", "van den Berg", "Bakker", "El Amrani", "Öztürk", "Visser", "Smit"]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="cp1252", newline="") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(header)
        for i in range(clients):
            first, last = rng.choice(firsts), rng.choice(lasts)
            row = [str(500000 + i), first, last, f"klant{i}@example.org", f"06-{rng.randint(10000000, 59999999)}",
                   rng.choice(("nl", "en")), rng.choice(("sms", "e-mail", "telefoon")), f"coach{i % 40}",
                   (date(2019, 1, 1) + timedelta(days=rng.randint(0, 2000))).strftime("%d-%m-%Y"),
                   (date(1960, 1, 1) + timedelta(days=rng.randint(0, 15000))).strftime("%d-%m-%Y")]
            row += [_dutch_cell(c, rng) if rng.random() < fill else "" for c in chars]
            w.writerow(row)
    os.replace(tmp, path)
    return path


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(build(clients=n))
