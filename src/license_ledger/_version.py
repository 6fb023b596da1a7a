"""The version of license-ledger: the one place it is written (the build reads it too)."""

__version__ = "0.2.0"
