"""Decoding input strictly, sealing it for the log, and encoding it canonically.

The only place where bytes become events and events become bytes. Refusals
are :class:`~license_ledger.errors.InputRefused` with the field path, what
was expected and what was found (a raw code is never echoed back; the wording
is in :mod:`license_ledger.engine._refusals`).

Input is hostile until decoded: a line may be bytes in another encoding,
JSON nested thousands deep, a bare string that is a code, a time at the end
of the calendar; an event Struct built in Python may hold anything, since
msgspec does not validate on construction. All of it is refused with
InputRefused, and nothing else escapes.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ..errors import InputRefused
from ._refusals import from_validation, not_json_lines, shown, undecodable
from .codes import CodeRef, describe_malformed, seal_code
from .events import (
    SCHEMA_VERSION,
    UPCASTERS,
    AnyEvent,
    CodeBlocked,
    CodeIssued,
    Event,
)
from .moments import check_moment

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
_BOM = b"\xef\xbb\xbf"


# --- decoding ---------------------------------------------------------------


def decode_event(data: bytes | str, *, line: int | None = None) -> AnyEvent:
    """Decode one JSON event strictly (input or stored form), or refuse it."""
    try:
        event = DECODER.decode(data)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, data, line) from None
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        # Not JSON, not UTF-8 (msgspec raises UnicodeDecodeError inside strings,
        # UnicodeEncodeError for text with lone surrogates), or nested too deeply.
        raise undecodable(exc, data, line) from None
    if event.v != SCHEMA_VERSION:
        event = _upcast(data, event.v, line)
    return event


def decode_numbered_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, AnyEvent]]:
    """Decode JSON lines with their line numbers; blank lines are skipped, refusals name the line.

    Lines may be text or bytes (a file read in binary): bytes must be UTF-8,
    and a UTF-8 byte-order mark at the start of the first line is skipped.
    Given a sequence (a whole file), a line that is not an object is refused
    saying what the whole looks like: one JSON array, or an object spread
    over several lines, and how to turn it into JSON Lines.
    """
    for number, text in enumerate(lines, start=1):
        if number == 1:
            if isinstance(text, bytes) and text.startswith(_BOM):
                text = text[len(_BOM) :]
            elif isinstance(text, str) and text.startswith("\ufeff"):
                text = text[1:]
        if text.strip():
            try:
                event = decode_event(text, line=number)
            except InputRefused as refused:
                whole = not_json_lines(lines, refused) if isinstance(lines, Sequence) else None
                raise (whole or refused) from None
            yield number, event


def decode_lines(lines: Iterable[str | bytes]) -> Iterator[AnyEvent]:
    """Decode JSON lines; blank lines are skipped, refusals name the line."""
    for _, event in decode_numbered_lines(lines):
        yield event


def event_from_object(obj: Any, *, line: int | None = None) -> AnyEvent:
    """Accept an event given as a Struct or as Python data (a dict), validated as JSON is.

    Both are encoded and decoded strictly: msgspec does not validate a Struct
    on construction, so ``CodeIssued(kind="bogus", term_days=-5, ...)`` would
    otherwise reach the log.
    """
    if not isinstance(obj, Event | dict):
        raise InputRefused(
            "an event (a dict with a `type`, or an event Struct)",
            type(obj).__name__,
            line=line,
        )
    try:
        data = _ENCODER.encode(obj)
    except RecursionError:
        raise InputRefused("an event", "values nested too deeply", line=line) from None
    except UnicodeEncodeError:
        raise InputRefused("an event", "text that cannot be UTF-8 (a lone surrogate)", line=line) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise InputRefused(
            "an event of JSON values (str, int, float, bool, None, datetime, lists and dicts)",
            f"a value that cannot be written as JSON ({exc})",
            line=line,
        ) from None
    return decode_event(data, line=line)


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


# --- sealing: input form → stored form ---------------------------------------


def seal(event: AnyEvent, *, line: int | None = None) -> AnyEvent:
    """Check what the schema cannot, and replace raw codes by fingerprints.

    Times must lie within 1970..9000 and become UTC, versions and specifiers
    must be PEP 440, a code issued or blocked must be well-formed. Returns the event as the log keeps it
    (``at`` may still be unset; :func:`stamp` sets it).
    """
    name = type(event).__name__
    changes: dict[str, Any] = {}
    for field in ("at", "purchased_at"):
        value = getattr(event, field, None)
        if value is not None:
            try:
                utc = check_moment(value, field=f"$.{field}")  # within 1970..9000, then UTC
            except InputRefused as refused:
                raise InputRefused(
                    refused.expected, refused.found, field=refused.field, line=line, event_type=name
                ) from None
            if value.utcoffset():
                changes[field] = utc
    version = getattr(event, "app_version", None)
    if version is not None and not _parses(Version, version):
        raise InputRefused(
            "a PEP 440 version such as 21.3.1",
            shown(version),
            field="$.app_version",
            line=line,
            event_type=name,
        )
    if isinstance(event, CodeIssued) and not _parses(SpecifierSet, event.compatible_versions):
        raise InputRefused(
            "a PEP 440 version specifier such as >=21.0,<23 (or empty for any)",
            shown(event.compatible_versions),
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
