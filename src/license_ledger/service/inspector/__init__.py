"""The forensic web inspector: a device's whole story on one page.

Server-rendered pages over a ledger (overview, device, event, sign-in),
mounted by the service under ``/ui/`` and served on their own, read-only, by
``license-ledger inspect``. See docs/inspect.md.
"""

from .app import create_inspector_app, inspect, is_loopback
from .pages import ui_router
from .templating import template_config

__all__ = ["create_inspector_app", "inspect", "is_loopback", "template_config", "ui_router"]
