"""report coaches at 100,000 clients: outflow per coach against caseload size, each cohort client
counted for the coach they had on the cohort date (caseload.coaches, migration 0028), against the
same report counting every client for their current coach (as it did before), in the same run
over the same database and cohort.

The demo database has a coach who left 200 days ago and whose clients a team lead handed over
(caseload.demo), so the two readings differ: the leaving coach's row is there only with the history.

    python bench/bench_coaches.py [--clients N ...] [--repeat R]
"""

import argparse
import os
import sys
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import build  # noqa: E402
from bench.results import timed, write_section  # noqa: E402
from caseload import access, coaches  # noqa: E402
from caseload.config import load_config  # noqa: E402
from caseload.reports import coach_outflow_report  # noqa: E402
from caseload.reports.outflow import cohort  # noqa: E402
from caseload.store import open_store  # noqa: E402

ADMIN = access.Actor("bench-admin", "admin")
ANALYST = access.Actor("bench", "analyst")



def current_coach(day, alias="clients"):
    return f"COALESCE({alias}.coach, '')"


def history(store):
    return coach_outflow_report(store, ADMIN, record=False)


def before(store):
    with mock.patch.object(coaches, "on_day_sql", current_coach):
        return coach_outflow_report(store, ADMIN, record=False)


def analyst(store):
    with store.conn:  # a new question each run: noise drawn and stored
        store.conn.execute("DELETE FROM privacy_releases")
    return coach_outflow_report(store, ANALYST, record=False)


def run(clients: int, repeat: int) -> list[str]:
    path = build(clients=clients)
    store = open_store(load_config(None), path)
    r = history(store)
    periods, closed = store.conn.execute("SELECT count(*), count(until) FROM coach_periods").fetchone()
    n = sum(c["n"] or 0 for c in r["coaches"])
    lines = [f"### {clients:,} clients, {periods:,} coach periods ({closed:,} closed by a handover), cohort of"
             f" {n:,} (active on {r['cohort_date']}, followed 12 months), matched on months in caseload and"
             f" {len(r['matched_on']) - 1} key characteristics", "",
             "| method | wall s (median) | CPU s | wall vs current coach |", "|---|---|---|---|"]
    base = None
    results = {}
    for name, fn in (("current coach (before 0028)", before), ("coach on the cohort date", history),
                     ("coach on the cohort date, analyst", analyst)):
        t, cpu, results[name] = timed(lambda: fn(store), repeat)
        base = base or t
        lines.append(f"| {name} | {t:.2f} | {cpu:.2f} | {base / t:.2f}x |")
        print(f"{clients} {name}: {t:.3f} s wall, {cpu:.3f} s cpu", flush=True)
    old = {c["coach"] for c in results["current coach (before 0028)"]["coaches"]}
    gone = sorted({c["coach"] for c in results["coach on the cohort date"]["coaches"]} - old)
    start, _, where, params, _ = cohort(store, ADMIN)
    moved = store.conn.execute(f"SELECT count(*) FROM clients WHERE {where} AND {coaches.on_day_sql(start)}"
                               f" != COALESCE(clients.coach, '')", params).fetchone()[0]
    lines += ["", f"With the history {moved:,} cohort clients count for another coach than their current one;"
                  f" coaches in the report only with the history: {', '.join(gone) or 'none'}."]
    store.close()
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    body = []
    for n in args.clients:
        body += run(n, args.repeat) + [""]
    load = os.getloadavg()[0]
    body.append("`report coaches` as shipped looks up each cohort client's coach on the cohort date in coach_periods"
                " (one index search per client); `current coach` is the same report with that lookup replaced by"
                " clients.coach, as before migration 0028. `analyst` is a new privacy release each run. Medians;"
                f" CPU s is this process's CPU time (load average at the end of this run: {load:.1f} on"
                f" {os.cpu_count()} cores).")
    write_section("Report coaches", "\n".join(body))


if __name__ == "__main__":
    main()
