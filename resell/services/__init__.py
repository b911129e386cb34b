"""Use cases. Each opens one unit of work, applies the domain rules and commits once.

Services know nothing of HTTP, SOAP or JSON spelling: they take plain values and return plain
values or raise `resell.domain.codes.Refusal`.
"""
