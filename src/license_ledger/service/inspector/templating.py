"""The templates and assets of the inspector, shipped inside the package, and the engine that renders them.

Jinja2 through Litestar's template support, with autoescaping on; the
filters turn the engine's codes into plain words (:mod:`.words`) and times
into RFC 3339 in UTC, as the command line prints them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig

from ...engine.codes import TAIL_LENGTH
from ...engine.moments import format_time
from .words import words

__all__ = ["STATIC", "TEMPLATES", "template_config"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def when(value: datetime | str | None) -> str:
    """A time as the command line prints it (RFC 3339, UTC, ``Z``)."""
    if value is None:
        return ""
    return value if isinstance(value, str) else format_time(value)


def is_fingerprint(value: Any) -> bool:
    """A code as the log keeps it: ``{"sha256": ..., "tail": ..., "well_formed": ...}``."""
    return isinstance(value, dict) and isinstance(value.get("sha256"), str) and "tail" in value


def masked(value: dict[str, Any]) -> str:
    """A stored code fingerprint shown as the application shows a code (never more than its tail)."""
    tail = value.get("tail")
    if not value.get("well_formed") or not isinstance(tail, str) or len(tail) != TAIL_LENGTH:
        return "(malformed code)"
    return "*****-*****-*****-" + tail


def as_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["words"] = words
    env.filters["when"] = when
    env.filters["masked"] = masked
    env.filters["as_json"] = as_json
    env.tests["fingerprint"] = is_fingerprint
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The template configuration an app that mounts the inspector passes to Litestar."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
