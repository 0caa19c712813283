"""Files a person names on the command line: opened with that person's rights, never the
service account's.

Under sudo (`sudo -u caseload caseload ...`) caseload runs as the service account, which can
read the secrets and write the database. A path the caller names would be opened with those
rights, so under sudo only `-` is accepted: standard input or output, which the caller's own
shell opens with the caller's rights (`... export > mine.csv`, `... import - < file.csv`).
"""

import sys
from pathlib import Path
from typing import BinaryIO

from .access import under_sudo
from .errors import BadInput
from .i18n import t

STDIO = "-"


def is_stdio(path) -> bool:
    return str(path) == STDIO


def check_named(path, option: str, example: str) -> None:
    """Refuse a named path under sudo. `example` is the redirect form to suggest, such as
    `sudo -u caseload caseload import - < FILE`."""
    if path is not None and not is_stdio(path) and under_sudo():
        raise BadInput(t("files.sudo_named", option=option, example=example))


def open_input(path, option: str, example: str) -> BinaryIO:
    """A binary stream to read: stdin for `-`, else the named file (never under sudo)."""
    check_named(path, option, example)
    if is_stdio(path):
        return sys.stdin.buffer
    try:
        return open(Path(path), "rb")
    except OSError as e:
        raise BadInput(t("files.unreadable", file=path, error=e.strerror or type(e).__name__)) from None


def read_text(path, option: str, example: str, limit: int = 1_000_000) -> str:
    """A small UTF-8 text (a template body, an HTML part), at most `limit` bytes."""
    f = open_input(path, option, example)
    try:
        data = f.read(limit + 1)
    finally:
        if f is not sys.stdin.buffer:
            f.close()
    if len(data) > limit:
        raise BadInput(t("files.too_large", file=path, limit=limit))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(t("files.not_utf8", file=path, position=e.start)) from None
