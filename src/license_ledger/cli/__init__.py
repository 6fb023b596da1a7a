"""The command line: parse arguments, call the library, format the answer.

Layer: the top. May import the service (for ``serve``), the ledger, the
store and the engine; nothing imports it.
"""

from .main import main

__all__ = ["main"]
