"""Pure business rules: no I/O, no framework. Everything here is testable with plain values."""
