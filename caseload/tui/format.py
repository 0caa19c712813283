"""How numbers, dates and moments look in the app's language: the core's caseload.display, the
same functions the CLI's tables use (Dutch: 1.234, 31,0 and 31-12-2025)."""

from ..display import day, decimal, moment, number, percent

__all__ = ["day", "decimal", "moment", "number", "percent"]
