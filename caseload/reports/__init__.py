"""Reports: outflow by characteristic, the effect of interventions, control groups, the
attention list, engagement and caseload per coach. Headless: plain functions over a Store and
an Actor, returning data; every group under config.reports.min_cell_size is suppressed."""

from .outflow import outflow_report

__all__ = ["outflow_report"]
