"""The one retry policy (resell.domain.retry): the waits, giving up, and the policy of each side effect."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from resell.domain import retry
from resell.domain.retry import RetryPolicy

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def waits(policy: RetryPolicy) -> list[dt.timedelta | None]:
    return [policy.next_delay(n) for n in range(1, policy.max_attempts + 1)]


def test_the_wait_doubles_from_the_first_up_to_the_cap_then_gives_up() -> None:
    policy = RetryPolicy(MINUTE, 10 * MINUTE, 7)
    assert waits(policy) == [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 10 * MINUTE, 10 * MINUTE, None]
    assert policy.next_delay(100) is None
    assert policy.span() == 35 * MINUTE


def test_one_attempt_means_no_retry() -> None:
    assert RetryPolicy(MINUTE, HOUR, 1).next_delay(1) is None
    assert retry.KEYGEN.with_attempts(0).max_attempts == 1  # a setting of 0 still makes one call


@given(st.integers(min_value=1, max_value=10_000))
def test_many_attempts_never_overflow_and_stay_capped(attempt: int) -> None:
    policy = RetryPolicy(MINUTE, HOUR, 10_001)
    wait = policy.next_delay(attempt)
    assert wait is not None and MINUTE <= wait <= HOUR


def test_late_email_retries_do_not_overflow() -> None:
    """A timedelta doubled 40 times overflows: the 42nd failed email made the whole worker pass fail."""
    assert retry.EMAILS.next_delay(99) == HOUR and retry.EMAILS.next_delay(100) is None


def test_webhooks_are_retried_for_about_three_days() -> None:
    assert waits(retry.WEBHOOKS)[:4] == [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE]
    assert max(w for w in waits(retry.WEBHOOKS) if w) == 12 * HOUR
    assert retry.WEBHOOKS.max_attempts == 16
    assert dt.timedelta(days=3) < retry.WEBHOOKS.span() < dt.timedelta(days=3.5)


def test_emails_and_publisher_callbacks_for_about_four_days() -> None:
    assert retry.PUBLISHER_CALLBACKS == retry.EMAILS
    assert retry.EMAILS.next_delay(1) == MINUTE and retry.EMAILS.next_delay(7) == HOUR
    assert dt.timedelta(days=3.5) < retry.EMAILS.span() < dt.timedelta(days=4.5)


def test_renewals_hourly_doubling_to_a_day_and_the_eighth_failure_is_final() -> None:
    assert waits(retry.RENEWALS) == [HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR, 24 * HOUR, 24 * HOUR, None]
    assert retry.RENEWALS.span() == dt.timedelta(hours=79)


def test_keygen_pauses_are_short_and_its_attempts_come_from_the_setting() -> None:
    policy = retry.KEYGEN.with_attempts(5)
    assert [w.total_seconds() if w else None for w in waits(policy)] == [0.25, 0.5, 1.0, 2.0, None]
    assert retry.KEYGEN.with_attempts(2).span() == dt.timedelta(seconds=0.25)
