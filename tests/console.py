"""The installed console script, run the way people run it: a fresh process for every command.

In-process `CliRunner` tests share imported modules; a command that only some other module
registers looks present there and is "No such command" for a real user."""

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
CASELOAD = BIN / "caseload"  # the console script pip installed beside this Python


def clean_env(**extra: str) -> dict:
    """What a shell gives a person: PATH with the venv first, HOME, English; no CASELOAD_*,
    no SUDO_*."""
    env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
           "LANG": "en_US.UTF-8", "COLUMNS": "200", "TERM": "dumb"}
    env.update(extra)
    return env


def caseload(*args: str, env: dict | None = None, cwd=None, input: bytes | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(CASELOAD), *map(str, args)], env=env or clean_env(), cwd=cwd, input=input,
                          capture_output=True, timeout=timeout)
