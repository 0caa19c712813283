"""bench/RESULTS.md holds one section per benchmark; each run replaces its own section."""

import platform
import re
import sqlite3
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nEach section is written by its benchmark (`python -m bench` runs them all).\n"
          "Ratios against a baseline measured in the same run are what count: this machine is shared and noisy.\n")


def write_section(name: str, body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    stamp = (f"_{time.strftime('%Y-%m-%d %H:%M')} · Python {platform.python_version()} · "
             f"SQLite {sqlite3.sqlite_version} · {platform.machine()}_")
    section = f"## {name}\n\n{stamp}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """Median wall seconds, median CPU seconds of this process (all threads), last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), out
