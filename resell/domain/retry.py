"""When to try again: the one backoff rule of every retried side effect, and the policy of each.

Exponential backoff: after failed attempt n (1 = the first) wait `first_delay * 2**(n-1)`, never more
than `max_delay`; after `max_attempts` failed attempts, give up. Pure: an attempt number in, a delay
(or None: give up) out; the caller decides what waiting means (an outbox row's `available_at`, a
subscription's `next_change_at`, a pause inside createOrder).
"""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    first_delay: dt.timedelta
    max_delay: dt.timedelta
    max_attempts: int

    def next_delay(self, attempt: int) -> dt.timedelta | None:
        """The wait after failed attempt `attempt` before the next one; None once attempts are used up."""
        if attempt >= self.max_attempts:
            return None
        # in float seconds, the exponent bounded: a timedelta doubled some forty times overflows
        seconds = self.first_delay.total_seconds() * 2.0 ** min(max(attempt - 1, 0), 64)
        return dt.timedelta(seconds=min(seconds, self.max_delay.total_seconds()))

    def span(self) -> dt.timedelta:
        """From the first attempt to the last one (the sum of every wait)."""
        total = dt.timedelta()
        for attempt in range(1, self.max_attempts):
            total += self.next_delay(attempt) or dt.timedelta()
        return total

    def with_attempts(self, attempts: int) -> RetryPolicy:
        """The same waits for another number of attempts (at least one)."""
        return dataclasses.replace(self, max_attempts=max(1, attempts))


# Webhooks: 1 min, 2, 4 ... doubling up to 12 h apart; the 16th and last attempt about 77 hours
# (3.2 days) after the first.
WEBHOOKS = RetryPolicy(dt.timedelta(minutes=1), dt.timedelta(hours=12), 16)
# Delivery emails and publisher callbacks: 1 min doubling to 1 h apart, 100 attempts (about four days).
EMAILS = RetryPolicy(dt.timedelta(minutes=1), dt.timedelta(hours=1), 100)
PUBLISHER_CALLBACKS = EMAILS
# Subscription renewals without stock (RENEWAL_PENDING): 1 h, 2, 4 ... at most a day apart; the 8th
# failed attempt (79 hours after the first) expires the subscription.
RENEWALS = RetryPolicy(dt.timedelta(hours=1), dt.timedelta(hours=24), 8)
# Key-generator calls inside createOrder: short pauses (0.25 s, 0.5, 1, 2, 2 ...), as many attempts
# as RESELL_KEYGEN_ATTEMPTS says (`KEYGEN.with_attempts(n)`).
KEYGEN = RetryPolicy(dt.timedelta(seconds=0.25), dt.timedelta(seconds=2), 2)
# Outbox events of kinds without a policy of their own.
DEFAULT = RetryPolicy(dt.timedelta(seconds=30), dt.timedelta(hours=6), 20)
