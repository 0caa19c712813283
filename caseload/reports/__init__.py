"""Reports: outflow by characteristic, the effect of interventions, control groups, the
attention list, engagement, caseload per coach and the offers' clicks. Headless: plain functions over a Store and
an Actor, returning data; every group under config.reports.min_cell_size is suppressed."""

from .attention import Signal, attention_list, register
from .coaches import caseload_report, coach_outflow_report
from .compare import compare_report
from .effect import effect_report
from .engagement import engagement_outflow, engagement_report
from .offers import offers_report
from .outflow import outflow_report

__all__ = ["Signal", "attention_list", "caseload_report", "coach_outflow_report", "compare_report", "effect_report", "engagement_outflow", "engagement_report",
           "offers_report", "outflow_report", "register"]
