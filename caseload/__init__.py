"""caseload: keep every client in view, one by one."""

__version__ = "0.1.0"
