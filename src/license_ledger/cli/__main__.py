"""``python -m license_ledger.cli``: the same as the ``license-ledger`` command."""

from .main import main

main()
