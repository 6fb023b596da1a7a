"""JSON Schemas of the events, generated from the Structs (never by hand)."""

from __future__ import annotations

from typing import Any

import msgspec

from .events import EVENT_TYPES, AnyEvent

__all__ = ["event_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def event_schemas() -> dict[str, dict[str, Any]]:
    """One schema per event type, and ``event`` for the tagged union of them all."""
    schemas: dict[str, dict[str, Any]] = {}
    for event_type in (*EVENT_TYPES, AnyEvent):
        (root,), defs = msgspec.json.schema_components([event_type], ref_template="#/$defs/{name}")
        name = getattr(event_type, "__name__", "event") if event_type is not AnyEvent else "event"
        schema: dict[str, Any] = {"$schema": _DIALECT, "title": name, **root, "$defs": defs}
        schemas[name] = schema
    return schemas
