"""The attention list as a report (`caseload report attention`): caseload.attention holds it."""

from ..attention import (Context, Reason, Signal, attention_list, delivery_problems, find, find_reasons, label,
                         maintenance_list, mark, register, signals, unregister)

__all__ = ["Context", "Reason", "Signal", "attention_list", "delivery_problems", "find", "find_reasons", "label",
           "maintenance_list", "mark", "register", "signals", "unregister"]
