"""Emails to end users, over SMTP: the delivery email (again, when the end user asks the locker for
it) and the list of an address's orders ("Forgot my order number").

Settings: RESELL_SMTP_HOST, RESELL_SMTP_PORT, RESELL_SMTP_STARTTLS (then the server's certificate is
verified, against RESELL_SMTP_CA_FILE when set), RESELL_SMTP_USER / RESELL_SMTP_PASSWORD (AUTH when
a user is set), RESELL_MAIL_FROM. A server that is down, slow or answers 4xx means "later": the
dispatcher retries with backoff (resell.domain.retry.EMAILS: 1 minute doubling to 1 hour, for about
four days); a recipient the server refuses for good (5xx) closes the event with the reason kept in
the outbox.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from resell.config import Settings
from resell.domain.retry import EMAILS
from resell.logs import get_logger
from resell.services import delivery_mail, order_list_mail
from resell.services.context import Context
from resell.worker.dispatcher import Event, GiveUp, handler

log = get_logger("resell.mail")


def send(settings: Settings, message: EmailMessage) -> None:
    """Hand the message to the SMTP server; permanent refusals raise GiveUp, anything else is retried."""
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(cafile=settings.smtp_ca_file or None))
                smtp.ehlo()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(code >= 500 for code in codes):
            raise GiveUp(f"recipient refused: {codes}") from None
        raise
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code >= 500:
            raise GiveUp(f"message refused: {exc.smtp_code}") from None
        raise


@handler(delivery_mail.KIND, EMAILS)  # one destination: the SMTP server
def deliver_email(ctx: Context, event: Event) -> None:
    message = delivery_mail.build(ctx, event.payload, event.event_id)
    if message is None:
        log.info("delivery_email_skipped", event_id=event.event_id, reason="order cancelled or gone")
        return
    send(ctx.settings, message)
    log.info("delivery_email_sent", event_id=event.event_id, order_number=event.payload.get("orderNumber"))


@handler(order_list_mail.KIND, EMAILS)
def send_order_list(ctx: Context, event: Event) -> None:
    message = order_list_mail.build(ctx, event.payload, event.event_id)
    if message is None:
        log.info("order_list_email_skipped", event_id=event.event_id, reason="no order for this address")
        return
    send(ctx.settings, message)
    log.info("order_list_email_sent", event_id=event.event_id)


@handler(delivery_mail.SANDBOX_KIND, EMAILS, destination="orderNumber")  # the database only: no SMTP share
def keep_email(ctx: Context, event: Event) -> None:
    """A test order's delivery email: rendered exactly as a live one, kept for the merchant, never sent."""
    from resell.services import sandbox

    message = delivery_mail.build(ctx, event.payload, event.event_id)
    if message is None:
        return
    sandbox.keep_email(ctx, event.event_id, int(event.payload["orderNumber"]), "delivery", message)
