"""Test data for the report tests, written straight into the core's tables (fast), and the
planted-effect caseload. No tests here."""

import dataclasses
import math
import random
from datetime import date, timedelta

from caseload import access
from caseload.config import Reports, load_config
from caseload.store import open_store

NOW = date(2026, 6, 30)


def new_store(tmp_path, min_cell_size: int = 5, name: str = "c.db"):
    cfg = dataclasses.replace(load_config(None), reports=Reports(min_cell_size=min_cell_size))
    store = open_store(cfg, tmp_path / name, create=True)
    access.add_user(store.db, "ana", "analyst")
    access.add_user(store.db, "cora", "coach", "north")
    access.add_user(store.db, "carl", "coach", "south")
    access.add_user(store.db, "tess", "teamlead", "north")
    access.add_user(store.db, "adam", "admin")
    return store


def actor(store, name):
    return access.resolve_actor(store.db, name)


def insert_clients(store, rows: list[dict]) -> None:
    """rows: dicts with id and any client columns; client_number defaults to K<id>."""
    cols = ["id", "client_number", "coach", "intake_date", "status", "outflow_type", "outflow_date",
            "last_activity", "last_reply", "first_name", "created_at", "updated_at"]
    data = []
    for r in rows:
        r = {"client_number": f"K{r['id']}", "status": "outflow" if r.get("outflow_date") else "active",
             "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00Z", **r}
        data.append([r.get(c) for c in cols])
    with store.db.conn:
        store.conn.executemany(f"INSERT INTO clients ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", data)
        store.conn.executemany("INSERT INTO profile (client_id) VALUES (?)", [[r["id"]] for r in rows])


def insert_observations(store, rows: list[tuple]) -> None:
    """rows: (client_id, key, value, observed_at[, source]); the profile follows the latest."""
    with store.db.conn:
        store.conn.executemany(
            "INSERT INTO observations (client_id, characteristic_id, value, observed_at, source) VALUES (?, ?, ?, ?, ?)",
            [(r[0], store.ids[r[1]], store.catalog[r[1]].to_sql(r[2]), r[3], r[4] if len(r) > 4 else "coach")
             for r in rows])
        for key in {r[1] for r in rows}:
            c, cid = store.catalog[key], store.ids[key]
            latest = (f"FROM observations o WHERE o.client_id = profile.client_id AND o.characteristic_id = {cid}"
                      " ORDER BY o.observed_at DESC, o.seq DESC LIMIT 1")
            store.conn.execute(f'UPDATE profile SET "{c.column}" = (SELECT value {latest})')
            store.conn.execute("INSERT OR IGNORE INTO profile_times (client_id) SELECT client_id FROM profile")
            store.conn.execute(f'UPDATE profile_times SET "{c.at_column}" = (SELECT observed_at'
                               f' {latest.replace("profile.client_id", "profile_times.client_id")})')


def insert_interventions(store, rows: list[tuple]) -> None:
    """rows: (client_id, name, start_date, end_date, result)."""
    with store.db.conn:
        store.conn.executemany(
            "INSERT INTO interventions (client_id, name, start_date, end_date, result, created_at)"
            " VALUES (?, ?, ?, ?, ?, '2020-01-01T00:00:00Z')", rows)


def _exp_days(rng, p_year: float) -> float:
    """A waiting time whose chance to end within 365 days is p_year (memoryless)."""
    return rng.expovariate(-math.log(1 - p_year) / 365)


def planted(store, n: int = 4000, seed: int = 3, uplift: float = 0.15, p_complaints: float = 0.08,
            p_other: float = 0.40, select_complaints: float = 0.5, select_other: float = 0.05) -> dict:
    """A caseload where 'assessment' adds `uplift` to the chance of work within a year, and its
    participants were mostly chosen for physical complaints, which lower that chance. Everyone
    starts in one programme month (March 2025); the follow-up year has passed by NOW."""
    rng = random.Random(seed)
    clients, obs, ivs = [], [], []
    for i in range(1, n + 1):
        complaints = rng.random() < 0.4
        p0 = p_complaints if complaints else p_other
        intake = NOW - timedelta(days=rng.randint(800, 1100))
        leave = intake + timedelta(days=_exp_days(rng, p0))
        start = date(2025, 3, rng.randint(1, 28))
        if leave > start and rng.random() < (select_complaints if complaints else select_other):
            leave = start + timedelta(days=_exp_days(rng, p0 + uplift))
            ivs.append((i, "assessment", start.isoformat(), None, None))
        gone = leave <= NOW
        clients.append({"id": i, "coach": "cora" if i % 2 else "carl", "intake_date": intake.isoformat(),
                        "outflow_date": leave.isoformat() if gone else None,
                        "outflow_type": "fulltime" if gone else None})
        obs.append((i, "physical_complaints", complaints, f"{intake.isoformat()}T10:00:00Z"))
        obs.append((i, "wellbeing", rng.randint(1, 5), f"{intake.isoformat()}T10:00:00Z"))
    insert_clients(store, clients)
    insert_observations(store, obs)
    insert_interventions(store, ivs)
    return {"uplift_pp": 100 * uplift, "participants": len(ivs)}
