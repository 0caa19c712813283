"""Where caseload looks for its files (XDG base directories)."""

import os
from pathlib import Path


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "caseload"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "caseload"


def default_config_path() -> Path:
    """./config.toml when it exists, else the XDG config dir."""
    local = Path("config.toml")
    if local.exists():
        return local
    return config_dir() / "config.toml"


def default_db_path() -> Path:
    return data_dir() / "caseload.db"


def package_data(name: str) -> Path:
    return Path(__file__).parent / "data" / name
