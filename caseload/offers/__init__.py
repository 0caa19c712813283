"""Offers: items matched to each client and sent as digests, learning from what clients click.

    matching  which items each client may be offered and in which order, with the reasons
              (eligibility, the score and its parts, exploration, the random share, a preview)
    digests   one message per client with their best items: plan, commit, schedules

Items themselves are caseload.items; the report is caseload.reports.offers.
"""

from .digests import (DigestPlan, add_schedule, commit, get_schedule, list_schedules, plan, plan_schedule,
                      run_due, set_status)
from .matching import preview

__all__ = ["DigestPlan", "add_schedule", "commit", "get_schedule", "list_schedules", "plan", "plan_schedule",
           "preview", "run_due", "set_status"]
