"""The outbox: every message to a client, from queued to sent, durable across crashes, kills and
concurrent senders.

    queue     the one writer of message rows (token, expiry, tracked links, occurrence,
              priority) and planning what `caseload queue` and the TUI's compose queue
    claims    the state machine: claims with a lease, outcomes, delivery reports, and which
              senders are still alive
    run       the send run (`send_due`): claim, send, commit each state change
    threads   the send run's writer thread and WAL checkpointer
    desk      list, summary, events, cancel, retry

How a sender works (see run): it claims a batch of due messages that pass the policies, sends
them one at a time, and commits message N's state before N+1's text is handed to the channel;
the one message it may have in flight is marked `possible_duplicate` in that same commit. A
claim whose sender died is taken up by the next sender: at once when the dead process ran on
this host (its pid is gone), else when the lease runs out (at most LEASE_SECONDS). So a kill
costs at most one duplicate, marked.

Temporary errors retry with exponential backoff up to config.policy.max_attempts; permanent ones
fail with a reason (a code, never a provider's text: it may quote an address). A channel that is
down (connection refused, login failed, 429) releases its messages without counting an attempt.
A campaign pauses itself after config.policy.pause_after_failures failures in a row.

Other modules use the names below; the modules themselves are for the package and its tests.
"""

from .claims import LEASE_SECONDS, STATES, SendReport, backoff, owner_alive, record_delivery, sender_id
from .desk import LIST_COLUMNS, cancel, events, list_messages, plan_retry, retry, summary
from .queue import (BROADCAST, CHANNELS, KINDS, LINK, PERSONAL, Message, Planned, QueuePlan, Queued, commit_queue,
                    enqueue, find_by_token, parse_at, plan_queue, write)
from .run import BATCH, due_summary, send_due

__all__ = [
    "BATCH", "BROADCAST", "CHANNELS", "KINDS", "LEASE_SECONDS", "LINK", "LIST_COLUMNS", "PERSONAL", "STATES",
    "Message", "Planned", "QueuePlan", "Queued", "SendReport",
    "backoff", "cancel", "commit_queue", "due_summary", "enqueue", "events", "find_by_token", "list_messages",
    "owner_alive", "parse_at", "plan_queue", "plan_retry", "record_delivery", "retry", "send_due", "sender_id",
    "summary", "write",
]
