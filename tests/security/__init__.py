"""The security suite: hostile input, tenant isolation, tokens, secrets at rest, links, throttling."""
