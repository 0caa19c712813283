"""The coach's day at national size (issue 17): a coach's attention list and inbox open in under
200 ms with 500,000 clients in the database, beside the core query alone.

1. Core: `attention.attention_list` and `conversations.inbox` for one coach (the coach with the
   median caseload), each call a fresh view (one audit entry each, as in the TUI).
2. TUI (Pilot, headless, 160x50): the app runs on the caseload screen; a key (a, b) switches to
   the attention list or the inbox, and the time runs until its rows are on the screen. Each
   later switch reloads the list (the screen loads again whenever it comes back).

    python bench/bench_attention.py [--clients N] [--repeat R] [--db PATH]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import build  # noqa: E402
from bench.results import write_section  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def row(label: str, xs: list[float]) -> str:
    return f"| {label} | {statistics.median(xs) * 1000:.0f} | {pct(xs, 0.9) * 1000:.0f} |"


def core(store, actor, repeat: int) -> dict:
    from caseload import attention, conversations

    out = {"attention": [], "inbox": []}
    for _ in range(repeat):
        t = time.perf_counter()
        rows = attention.attention_list(store, actor)
        out["attention"].append(time.perf_counter() - t)
        t = time.perf_counter()
        unread = conversations.inbox(store, actor)
        out["inbox"].append(time.perf_counter() - t)
    out["rows"], out["unread"] = len(rows), len(unread)
    return out


async def tui(store, actor, repeat: int) -> dict:
    from caseload.tui.app import build_app
    from caseload.tui.screens.attention import AttentionScreen
    from caseload.tui.screens.inbox import InboxScreen

    shown: dict[str, float] = {}
    for cls, handler in ((AttentionScreen, "on_attention_screen_loaded"), (InboxScreen, "on_inbox_screen_loaded")):
        original = getattr(cls, handler)

        def wrapped(self, message, original=original, name=cls.__name__):
            original(self, message)
            shown[name] = time.perf_counter()
        setattr(cls, handler, wrapped)

    out = {"attention": [], "inbox": []}
    app = build_app(store, actor, lang="nl")
    async with app.run_test(size=(160, 50)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.5)
        for _ in range(repeat):
            for key, name, screen in (("a", "attention", "AttentionScreen"), ("b", "inbox", "InboxScreen")):
                shown.pop(screen, None)
                t = time.perf_counter()
                await pilot.press(key)
                while screen not in shown:
                    await pilot.pause(0.002)
                out[name].append(shown[screen] - t)
                await pilot.press("c")
                await app.workers.wait_for_complete()
                await pilot.pause(0.05)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    from caseload import access
    from caseload.config import load_config
    from caseload.store import open_store

    path = build(args.db, clients=args.clients) if args.db is None or not args.db.exists() else args.db
    store = open_store(load_config(None), path)
    counts = store.db.execute("SELECT coach, count(*) FROM clients WHERE status = 'active' GROUP BY coach"
                              " ORDER BY 2, 1").fetchall()
    coach, active = counts[len(counts) // 2]
    actor = access.resolve_actor(store.db, coach, interface="tui")
    total = store.db.execute("SELECT count(*) FROM clients").fetchone()[0]
    facts = {k: store.db.execute(f"SELECT count(*) FROM {k}").fetchone()[0]
             for k in ("observations", "messages", "replies", "follow_ups")}
    unread = store.db.execute("SELECT count(*) FROM replies WHERE read_at IS NULL").fetchone()[0]
    core(store, actor, 2)  # warm the page cache as a running system would have it
    c = core(store, actor, args.repeat)
    t = asyncio.run(tui(store, actor, args.repeat))
    load = os.getloadavg()[0]
    body = f"""### {total:,} clients, coach `{coach}` with {active} active clients; 160x50; load average {load:.1f}

{facts['observations']:,} observations, {facts['messages']:,} messages, {facts['replies']:,} replies
({unread:,} unread), {facts['follow_ups']:,} follow-ups. The coach's list holds {c['rows']} clients, the inbox
{c['unread']} replies. {args.repeat} runs each.

| measure | median ms | p90 ms |
|---|---|---|
{row("TUI: a -> the attention list on screen", t["attention"])}
{row("TUI: b -> the inbox on screen", t["inbox"])}
{row("core alone: attention.attention_list (with its audit entry)", c["attention"])}
{row("core alone: conversations.inbox (with its audit entry)", c["inbox"])}

Target (issue 17): a coach's attention list and inbox open in under 200 ms with 500,000 clients.
The TUI rows include the screen switch, the worker thread, the query and painting the rows; the
core rows are the query alone. Every view writes one audit entry (a commit), so a busy disk shows here.
"""
    print(body)
    write_section("Attention and inbox", body)
    store.close()


if __name__ == "__main__":
    main()
