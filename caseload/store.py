"""The store: one organisation's open database with its config and catalog.

Core functions take a Store (and the acting user); nothing is opened at import time.
"""

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils

from .catalog import Catalog, load_catalog
from .catalog_sync import sync_catalog
from .config import Config
from .db import connect


@dataclass
class Store:
    db: sqlite_utils.Database
    config: Config
    catalog: Catalog
    ids: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    created: bool = False  # this store made the database file (see users.register_first_admin)

    @property
    def tz(self) -> ZoneInfo:
        return self.config.tz

    @property
    def conn(self):
        return self.db.conn

    def close(self) -> None:
        self.db.close()


def open_store(config: Config, db_path: Path | str, create: bool = False) -> Store:
    catalog = load_catalog(config)
    db, created = connect(db_path, create=create)
    ids = sync_catalog(db, catalog)
    return Store(db=db, config=config, catalog=catalog, ids=ids, path=Path(db_path), created=created)
