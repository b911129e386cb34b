"""The worker: delivers the outbox (emails, webhooks, publisher calls) and runs periodic jobs (renewals)."""
