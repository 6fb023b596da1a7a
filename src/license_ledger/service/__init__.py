"""The HTTP service: the library over HTTP, with roles and bearer tokens.

Layer: above the ledger. Handlers parse and format (``app``), requests are
parsed and errors turned into statuses at the edge (``edge``), the OpenAPI
additions live in ``openapi``, who may do what in ``tokens``. May import the
ledger, the store and the engine; only the command line imports it.
"""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
