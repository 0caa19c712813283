"""Segment benchmark: ten representative segments counted with `segments.count` (parse, check,
compile, execute) beside the same selection written by hand in SQL, in the same run, on the
same connection, alternating, on 100,000 and 500,000 clients x 80 characteristics.

    python bench/bench_segments.py [--clients N ...] [--repeat R]

Targets (issue 3): median count at 100k at most 50 ms and at most 1.5x the hand-written SQL;
at 500k at most 250 ms.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, time as dtime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import DATA, build  # noqa: E402
from bench.results import write_section  # noqa: E402
from caseload import segments  # noqa: E402
from caseload.access import Actor  # noqa: E402
from caseload.config import load_config  # noqa: E402
from caseload.store import open_store  # noqa: E402

ADMIN = Actor("bench", "admin")
SAVED = {"Zorg eerst": "zrm_mental_health <= 2 or zrm_physical_health <= 2",
         "Zorg eerst jong": 'segment = "Zorg eerst" and age < 35'}


def local_start(d: date, tz) -> str:
    return datetime.combine(d, dtime(0), tzinfo=tz).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cases(today: date, tz):
    """(label, conditions, expression, hand-written WHERE, its parameters)."""
    def ago(days):
        return local_start(today - timedelta(days=days), tz)

    def born_before(years):  # at least `years` whole years old today
        return f"{today.year - years:04d}-{today.month:02d}-{today.day:02d}"

    def intake_before(months):
        y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
        return f"{y:04d}-{m + 1:02d}-{today.day:02d}"

    mental = "(p.v_zrm_mental_health <= 2 OR p.v_zrm_physical_health <= 2)"
    return [
        ("one scale", 1, "wellbeing <= 2",
         "p.v_wellbeing <= 2", []),
        ("field and date", 2, "status = active and last_reply < 30 days ago",
         "c.status = 'active' AND c.last_reply < ?", [ago(30)]),
        ("the issue's example", 3, "wellbeing <= 2 and childcare_arranged != true and last_reply < 30 days ago",
         "p.v_wellbeing <= 2 AND (p.v_childcare_arranged IS NULL OR p.v_childcare_arranged <> 1)"
         " AND c.last_reply < ?", [ago(30)]),
        ("freshness and not", 3, "not debts = true and zrm_finances.updated < 180 days ago and status = active",
         "(p.v_debts IS NULL OR p.v_debts <> 1) AND pt.t_zrm_finances < ? AND c.status = 'active'", [ago(180)]),
        ("or of three", 3, "zrm_mental_health <= 2 or zrm_physical_health <= 2 or stress_level >= 4",
         "p.v_zrm_mental_health <= 2 OR p.v_zrm_physical_health <= 2 OR p.v_stress_level >= 4", []),
        ("history", 2, "wellbeing was <= 2 within 90 days and wellbeing >= 4",
         "p.v_wellbeing >= 4 AND EXISTS (SELECT 1 FROM observations o WHERE o.client_id = c.id"
         " AND o.characteristic_id = ? AND o.observed_at >= ? AND o.value <= 2)", ["wellbeing", ago(90)]),
        ("interventions", 3, 'intervention = "work-first" and not intervention.active = cv_workshop and age < 30',
         "c.id IN (SELECT client_id FROM interventions WHERE name = 'work-first')"
         " AND c.id NOT IN (SELECT client_id FROM interventions WHERE name = 'cv_workshop' AND end_date IS NULL)"
         " AND c.birth_date > ?", [born_before(30)]),
        ("nested segments", 4, 'segment = "Zorg eerst jong" and months_in_caseload >= 12',
         f"{mental} AND c.birth_date > ? AND c.intake_date <= ?", [born_before(35), intake_before(12)]),
        ("not (a or b)", 3, "not (debts = true or personal_problems = true) and wellbeing >= 3",
         "(p.v_debts IS NULL OR p.v_debts <> 1) AND (p.v_personal_problems IS NULL OR p.v_personal_problems <> 1)"
         " AND p.v_wellbeing >= 3", []),
        ("eight conditions", 8,
         "status = active and age >= 27 and age < 50 and desired_sector in (care, retail, logistics)"
         " and has_cv = true and dutch_language_level in (b1, b2, c1, c2) and availability_hours >= 16"
         " and last_activity >= 60 days ago",
         "c.status = 'active' AND c.birth_date <= ? AND c.birth_date > ?"
         " AND p.v_desired_sector IN ('care', 'retail', 'logistics') AND p.v_has_cv = 1"
         " AND p.v_dutch_language_level IN ('b1', 'b2', 'c1', 'c2') AND p.v_availability_hours >= 16"
         " AND c.last_activity >= ?", [born_before(27), born_before(50), ago(60)]),
    ]


def median_ms(samples):
    return statistics.median(samples) * 1000


def database(n: int) -> Path:
    """The cached database of n clients; waits while another process is still building it."""
    building = DATA / f"caseload-{n}-1.building-wal"
    while not (DATA / f"caseload-{n}-1.db").exists() and building.exists() \
            and time.time() - building.stat().st_mtime < 300:
        print(f"waiting for another process to finish building {n:,} clients", flush=True)
        time.sleep(30)
    return build(clients=n)


def hand_from(hand: str) -> str:
    """What a person would join for this WHERE: the profile alone when no client field is read."""
    if "c." not in hand:
        return "FROM profile p"
    sql = "FROM clients c JOIN profile p ON p.client_id = c.id"
    if "pt." in hand:
        sql += " LEFT JOIN profile_times pt ON pt.client_id = c.id"
    return sql


def run(n: int, repeat: int) -> tuple[list[dict], dict]:
    path = database(n)
    store = open_store(load_config(None), path)
    try:
        for name, expression in SAVED.items():
            if store.db.execute("SELECT 1 FROM segments WHERE name = ?", [name]).fetchone() is None:
                segments.save(store, ADMIN, name, expression)
        today = datetime.now(store.tz).date()
        conn = store.conn
        rows = []
        for label, k, expression, hand, params in cases(today, store.tz):
            params = [store.ids[p] if p in store.ids else p for p in params]
            hand_sql = f"SELECT count(*) {hand_from(hand)} WHERE {hand}"
            ours = segments.count(store, ADMIN, expression, today=today)
            theirs = conn.execute(hand_sql, params).fetchone()[0]
            if ours != theirs:
                raise SystemExit(f"{label}: segments.count gives {ours}, the hand-written SQL {theirs}")
            t_ours, t_hand, t_compile, c_ours, c_hand = [], [], [], [], []
            for _ in range(repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                conn.execute(hand_sql, params).fetchone()
                t1, c1 = time.perf_counter(), time.process_time()
                segments.count(store, ADMIN, expression, today=today)
                t2, c2 = time.perf_counter(), time.process_time()
                segments.resolve_where(store, expression, today=today)
                t3 = time.perf_counter()
                t_hand.append(t1 - t0)
                t_ours.append(t2 - t1)
                c_hand.append(c1 - c0)
                c_ours.append(c2 - c1)
                t_compile.append(t3 - t2)
            r = {"label": label, "conditions": k, "expression": expression, "count": ours,
                 "ours": median_ms(t_ours), "hand": median_ms(t_hand), "compile": median_ms(t_compile),
                 "ours_cpu": median_ms(c_ours), "hand_cpu": median_ms(c_hand)}
            rows.append(r)
            print(f"{n:>7} {label:<22} {ours:>7} ours {r['ours']:7.1f} ms (cpu {r['ours_cpu']:6.1f})"
                  f"  hand {r['hand']:7.1f} ms (cpu {r['hand_cpu']:6.1f})  ratio {r['ours'] / r['hand']:.2f}",
                  flush=True)
        info = {"observations": conn.execute("SELECT count(*) FROM observations").fetchone()[0],
                "load": os.getloadavg()[0]}
        return rows, info
    finally:
        store.close()


def timed(conn, sql, params, repeat) -> tuple[float, float]:
    conn.execute(sql, params).fetchone()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        conn.execute(sql, params).fetchone()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return median_ms(wall), median_ms(cpu)


def what_if(n: int, repeat: int) -> list[str]:
    """On a copy: what an index of observations by characteristic, and a profile without the
    observed-at columns, would change. Neither is in the schema; these numbers are for deciding."""
    with tempfile.TemporaryDirectory(prefix="segments-bench-") as tmp:
        copy = Path(tmp) / "copy.db"
        shutil.copy(database(n), copy)
        os.chmod(copy, 0o600)
        store = open_store(load_config(None), copy)
        try:
            today = datetime.now(store.tz).date()
            conn = store.conn
            expression = "wellbeing was <= 2 within 90 days"
            where, params = segments.resolve_where(store, expression, today=today)
            before = timed(conn, f"SELECT count(*) FROM clients WHERE {where}", params, repeat)
            t0 = time.perf_counter()
            conn.execute("CREATE INDEX what_if_by_characteristic ON observations (characteristic_id, observed_at, value)")
            built = time.perf_counter() - t0
            where, params = segments.resolve_where(store, expression, today=today)
            after = timed(conn, f"SELECT count(*) FROM clients WHERE {where}", params, repeat)
            values = ", ".join(f'"{c.column}"' for c in store.catalog)
            conn.execute(f"CREATE TABLE what_if_values AS SELECT client_id, {values} FROM profile")
            conn.execute("CREATE UNIQUE INDEX what_if_values_client ON what_if_values (client_id)")
            lines = [f"### What if (on a copy of {n:,} clients; not in the schema)", "",
                     "| change | query | before ms (CPU) | after ms (CPU) |", "|---|---|---|---|",
                     f"| index observations (characteristic_id, observed_at, value): built in {built:.0f} s |"
                     f" `{expression}` | {before[0]:.1f} ({before[1]:.1f}) | {after[0]:.1f} ({after[1]:.1f}) |"]
            for label, _, expr, hand, hand_params in cases(today, store.tz):
                if label not in ("one scale", "the issue's example", "not (a or b)"):
                    continue
                wide = timed(conn, f"SELECT count(*) {hand_from(hand)} WHERE {hand}",
                             hand_params, repeat)
                narrow = timed(conn, "SELECT count(*) FROM clients c JOIN what_if_values p ON p.client_id = c.id"
                                     f" WHERE {hand}", hand_params, repeat)
                lines.append(f"| profile without the observed-at columns (values only), hand-written SQL | `{expr}` |"
                             f" {wide[0]:.1f} ({wide[1]:.1f}) | {narrow[0]:.1f} ({narrow[1]:.1f}) |")
            return lines + [""]
        finally:
            store.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="*", default=[100_000, 500_000])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-what-if", action="store_true", help="Skip the what-if measurements on a copy.")
    args = ap.parse_args()
    limits = {100_000: 50.0, 500_000: 250.0}
    body = [
        "Ten segments counted with `segments.count` (parse, check against the catalog, compile, run) beside",
        "the same selection written by hand in SQL (the profile alone, or `clients JOIN profile`, literal values), alternating on one",
        f"connection, {args.repeat} times each after a warm-up; medians in ms. Database: `bench/generate.py`",
        "(default catalog of 80 characteristics, two years of history, interventions, outflow).",
        "",
    ]
    ok = True
    for n in args.clients:
        rows, info = run(n, args.repeat)
        body += [f"### {n:,} clients ({info['observations']:,} observations; load average {info['load']:.1f}"
                 f" on {os.cpu_count()} cores)", "",
                 "| segment | conditions | clients | ours ms | hand-written ms | ratio | ours CPU ms | hand CPU ms"
                 " | parse+compile ms |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            body.append(f"| {r['label']}: `{r['expression']}` | {r['conditions']} | {r['count']:,} | {r['ours']:.1f}"
                        f" | {r['hand']:.1f} | {r['ours'] / r['hand']:.2f}x | {r['ours_cpu']:.1f}"
                        f" | {r['hand_cpu']:.1f} | {r['compile']:.2f} |")
        worst = max(r["ours"] for r in rows)
        middle = statistics.median(r["ours"] for r in rows)
        worst_ratio = max(r["ours"] / r["hand"] for r in rows)
        total_ratio = sum(r["ours"] for r in rows) / sum(r["hand"] for r in rows)
        limit = limits.get(n)
        verdict = ""
        if limit is not None:
            passed = middle <= limit and (n != 100_000 or worst_ratio <= 1.5)
            ok = ok and passed
            target = f"median at most {limit:.0f} ms" + (", every segment at most 1.5x" if n == 100_000 else "")
            verdict = f" Target (issue 3): {target}: {'met' if passed else 'NOT met'}."
        body += ["", f"Median of the ten {middle:.1f} ms; slowest segment {worst:.1f} ms; highest ratio"
                     f" {worst_ratio:.2f}x; all ten together {total_ratio:.2f}x the hand-written SQL.{verdict}", ""]
    if not args.no_what_if and args.clients:
        body += what_if(min(args.clients), args.repeat)
    write_section("Segments", "\n".join(body))
    print("\n".join(body))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
