"""Decoding input strictly, sealing it for the log, and encoding it canonically.

The only place where bytes become events and events become bytes. Refusals
are :class:`~license_ledger.errors.InputRefused` with the field path, what
was expected and what was found (a raw code is never echoed back).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..errors import InputRefused
from .codes import CodeRef, describe_malformed, seal_code
from .events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    UPCASTERS,
    AnyEvent,
    CodeBlocked,
    CodeIssued,
    Event,
)

__all__ = [
    "DECODER",
    "decode_event",
    "decode_lines",
    "decode_numbered_lines",
    "decode_stored",
    "encode",
    "event_from_object",
    "seal",
    "stamp",
]

#: The strict decoder of one event, input or stored form, of the current schema
#: version. Replay's hot path calls it directly; :func:`decode_stored` also upcasts.
DECODER = msgspec.json.Decoder(AnyEvent)
_ENCODER = msgspec.json.Encoder()
_TYPE_NAMES = ", ".join(t.__name__ for t in EVENT_TYPES)
_BY_NAME = {t.__name__: t for t in EVENT_TYPES}


# --- decoding ---------------------------------------------------------------


def decode_event(data: bytes | str, *, line: int | None = None) -> AnyEvent:
    """Decode one JSON event strictly (input or stored form)."""
    try:
        event = DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise _refusal(exc, data, line) from None
    except msgspec.DecodeError as exc:
        raise InputRefused("one JSON object per line", f"malformed JSON ({exc})", line=line) from None
    if event.v != SCHEMA_VERSION:
        event = _upcast(data, event.v, line)
    return event


def decode_numbered_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, AnyEvent]]:
    """Decode JSON lines with their line numbers; blank lines are skipped, refusals name the line."""
    for number, text in enumerate(lines, start=1):
        if text.strip():
            yield number, decode_event(text, line=number)


def decode_lines(lines: Iterable[str | bytes]) -> Iterator[AnyEvent]:
    """Decode JSON lines; blank lines are skipped, refusals name the line."""
    for _, event in decode_numbered_lines(lines):
        yield event


def event_from_object(obj: Any, *, line: int | None = None) -> AnyEvent:
    """Accept an event given as a Struct or as Python data (a dict)."""
    if isinstance(obj, Event):
        return typing.cast(AnyEvent, obj)
    if isinstance(obj, dict):
        return decode_event(_ENCODER.encode(obj), line=line)
    raise InputRefused(
        "an event (a dict with a `type`, or an event Struct)",
        type(obj).__name__,
        line=line,
    )


def decode_stored(payload: bytes | str, version: int = SCHEMA_VERSION) -> AnyEvent:
    """Decode an event as the store wrote it (trusted, already sealed)."""
    if version == SCHEMA_VERSION:
        return DECODER.decode(payload)
    return _upcast(payload, version, None)


def _upcast(data: bytes | str, version: int, line: int | None) -> AnyEvent:
    if version > SCHEMA_VERSION:
        raise InputRefused(
            f"schema version {SCHEMA_VERSION} or older",
            f"version {version} (written by a newer license-ledger)",
            field="$.v",
            line=line,
        )
    raw = msgspec.json.decode(data)
    while version < SCHEMA_VERSION:
        raw = UPCASTERS[version](raw)
        version += 1
    raw["v"] = SCHEMA_VERSION
    return decode_event(_ENCODER.encode(raw), line=line)


_EXPECTED = re.compile(r"^Expected (?P<exp>.+?)(?:, got (?P<got>.+?))?(?: - at `(?P<path>.+)`)?$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`(?: - at `(?P<path>.+)`)?$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`(?: - at `(?P<path>.+)`)?$")
_INVALID = re.compile(r"^Invalid (?:enum )?value (?P<got>.+?) - at `(?P<path>.+)`$")
_MALFORMED = re.compile(r"^Invalid (?P<what>.+?) - at `(?P<path>.+)`$")
_TIMESTAMP = "an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"


def _refusal(exc: msgspec.ValidationError, data: bytes | str, line: int | None) -> InputRefused:
    """Rephrase msgspec's message as expected / found / where."""
    text = str(exc)
    raw = _loads_or_none(data)
    type_name = raw.get("type") if isinstance(raw, dict) else None
    event_type = type_name if isinstance(type_name, str) and type_name in _BY_NAME else None
    where: dict[str, Any] = {"line": line, "event_type": event_type}
    if m := _MISSING.match(text):
        path = f"{m['path'] or '$'}.{m['name']}"
        if m["name"] == "type":
            return InputRefused(f"a `type`, one of {_TYPE_NAMES}", "no `type`", field=path, **where)
        return InputRefused(f"the required field `{m['name']}`", "nothing", field=path, **where)
    if m := _UNKNOWN.match(text):
        path = f"{m['path'] or '$'}.{m['name']}"
        known = _known_fields(event_type, m["path"])
        return InputRefused(known, f"the unknown field `{m['name']}`", field=path, **where)
    if m := _INVALID.match(text):
        path = m["path"]
        if path == "$.type":
            return InputRefused(f"a `type`, one of {_TYPE_NAMES}", m["got"], field=path, **where)
        return InputRefused(_choices(event_type, path), m["got"], field=path, **where)
    if m := _MALFORMED.match(text):
        # A string of the right type that does not parse (an RFC 3339 time, say).
        expected = _TIMESTAMP if "RFC3339" in m["what"] else f"a valid {m['what']}"
        return InputRefused(expected, _found_at(raw, m["path"]), field=m["path"], **where)
    if m := _EXPECTED.match(text):
        path = m["path"] or "$"
        expected = m["exp"].replace("`", "")
        found = _found_at(raw, path)
        if path.endswith(".code") and m["got"]:
            expected, found = "an activation code (a string)", f"{m['got'].strip('`')} (not shown)"
        elif m["got"]:
            found = f"{m['got'].strip('`')} {found}"
        return InputRefused(expected, found, field=path, **where)
    return InputRefused("a valid event", text, **where)


def _loads_or_none(data: bytes | str) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None


def _found_at(raw: Any, path: str) -> str:
    """The value at a msgspec path (``$.a[0].b``), shown briefly; codes hidden."""
    if path.endswith(".code"):
        return "a code (not shown)"
    node = raw
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        try:
            node = node[key] if key else node[int(index)]
        except (KeyError, IndexError, TypeError):
            return "an unreadable value"
    shown = msgspec.json.encode(node).decode()
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _field_type(event_type: str | None, path: str) -> Any:
    if event_type is None or not path.startswith("$."):
        return None
    hints = typing.get_type_hints(_BY_NAME[event_type], include_extras=True)
    return hints.get(path[2:].split(".")[0])


def _choices(event_type: str | None, path: str) -> str:
    hint = _field_type(event_type, path)
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(typing.get_args(hint))
    return "a valid value"


def _known_fields(event_type: str | None, path: str | None) -> str:
    if event_type is None or path:
        return "only known fields"
    fields = ", ".join(["type", *_BY_NAME[event_type].__struct_fields__])
    return f"only the fields of {event_type} ({fields})"


# --- sealing: input form → stored form ---------------------------------------


def seal(event: AnyEvent, *, line: int | None = None) -> AnyEvent:
    """Check what the schema cannot, and replace raw codes by fingerprints.

    Times become UTC, versions and specifiers must be PEP 440, a code issued
    or blocked must be well-formed. Returns the event as the log keeps it
    (``at`` may still be unset; :func:`stamp` sets it).
    """
    name = type(event).__name__
    changes: dict[str, Any] = {}
    for field in ("at", "purchased_at"):
        value = getattr(event, field, None)
        if value is not None and value.utcoffset():
            changes[field] = value.astimezone(UTC)
    version = getattr(event, "app_version", None)
    if version is not None and not _parses(Version, version):
        raise InputRefused(
            "a PEP 440 version such as 21.3.1",
            repr(version),
            field="$.app_version",
            line=line,
            event_type=name,
        )
    if isinstance(event, CodeIssued) and not _parses(SpecifierSet, event.compatible_versions):
        raise InputRefused(
            "a PEP 440 version specifier such as >=21.0,<23 (or empty for any)",
            repr(event.compatible_versions),
            field="$.compatible_versions",
            line=line,
            event_type=name,
        )
    code = getattr(event, "code", None)
    if isinstance(code, str):
        code = changes["code"] = seal_code(code)
        must_be_well_formed = isinstance(event, (CodeIssued, CodeBlocked))
        if must_be_well_formed and not code.well_formed:
            raise InputRefused(
                "an activation code of 20 letters and digits (XXXXX-XXXXX-XXXXX-XXXXX)",
                describe_malformed(typing.cast(str, event.code)),  # type: ignore[union-attr]
                field="$.code",
                line=line,
                event_type=name,
            )
    elif isinstance(code, CodeRef) and isinstance(event, (CodeIssued, CodeBlocked)) and not code.well_formed:
        raise InputRefused(
            "a well-formed code reference",
            "well_formed: false",
            field="$.code.well_formed",
            line=line,
            event_type=name,
        )
    sealed = msgspec.structs.replace(event, **changes) if changes else event
    # An event that brings its own time gets the defaults that follow from it
    # now; the others get them when they are stamped.
    return sealed if sealed.at is None else stamp(sealed, sealed.at)


@lru_cache(maxsize=4096)
def _parses(parser: Callable[[str], object], text: str) -> bool:
    """True when ``parser`` (``Version`` or ``SpecifierSet``) accepts ``text``.

    Cached: a log has few distinct versions and specifiers, and parsing each
    event's anew was a tenth of the time of an append.
    """
    try:
        parser(text)
    except ValueError:  # InvalidVersion and InvalidSpecifier are ValueErrors
        return False
    return True


def stamp(event: AnyEvent, at: datetime) -> AnyEvent:
    """Give an event its time (when the input left it out), and defaults that follow it.

    The one place of those defaults: a ``CodeIssued`` without ``purchased_at``
    was purchased at its ``at``. :func:`seal` calls it for events that bring
    their own time.
    """
    changes: dict[str, Any] = {}
    if event.at is None:
        changes["at"] = at
    if isinstance(event, CodeIssued) and event.purchased_at is None:
        changes["purchased_at"] = changes.get("at", event.at)
    return msgspec.structs.replace(event, **changes) if changes else event


def encode(event: Event) -> bytes:
    """The canonical bytes of an event: what the log stores and the chain hashes."""
    return _ENCODER.encode(event)
