"""Reusable widgets: the paged client table, the filter bar, small dialogs."""
