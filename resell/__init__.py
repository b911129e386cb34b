"""resell: a platform for the digital distribution of software and games through resellers."""

__version__ = "0.1.0"
