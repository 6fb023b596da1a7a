"""How the codec words a refusal: msgspec's errors and unreadable bytes as expected / found / where.

Kept apart from :mod:`license_ledger.engine.codec` (which decides *what* is
refused) because the wording is long and only runs when something is wrong.
Everything here is built to survive hostile input: it never raises anything
but the :class:`~license_ledger.errors.InputRefused` it returns, and it never
shows a value that may be an activation code (see
:func:`~license_ledger.engine.codes.looks_like_code`).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Sequence
from typing import Any

import msgspec

from ..errors import InputRefused
from .codes import looks_like_code
from .events import EVENT_TYPES

__all__ = ["NOT_SHOWN", "TEXT_EXPECTED", "from_validation", "not_json_lines", "shown", "undecodable"]

TYPE_NAMES = ", ".join(t.__name__ for t in EVENT_TYPES)
_BY_NAME = {t.__name__: t for t in EVENT_TYPES}

#: What a line of input must be, before it can be JSON.
TEXT_EXPECTED = "UTF-8 text (JSON Lines)"
_MAY_BE_A_CODE = "that may be an activation code (not shown)"
#: Said instead of a value that may be an activation code.
NOT_SHOWN = f"a value {_MAY_BE_A_CODE}"
_AN_EVENT = "an event object"
_TIMESTAMP = "an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"
#: msgspec's names of JSON types, as a refusal says them.
_JSON_TYPES = {
    "str": "a JSON string",
    "array": "a JSON array (append takes JSON Lines, one object per line)",
    "int": "a JSON number",
    "float": "a JSON number",
    "bool": "a JSON boolean",
    "null": "JSON null",
}

_EXPECTED = re.compile(r"^Expected (?P<exp>.+?)(?:, got (?P<got>.+?))?(?: - at `(?P<path>.+)`)?$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`(?: - at `(?P<path>.+)`)?$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*?)`(?: - at `(?P<path>[^`]+)`)?$", re.S)
_INVALID = re.compile(r"^Invalid (?:enum )?value (?P<got>.+?) - at `(?P<path>[^`]+)`$", re.S)
_MALFORMED = re.compile(r"^Invalid (?P<what>.+?) - at `(?P<path>[^`]+)`$")
_OUT_OF_RANGE = re.compile(r"^Number out of range(?: - at `(?P<path>[^`]+)`)?$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


# --- bytes and text that are not JSON ----------------------------------------------


def undecodable(exc: BaseException, data: bytes | str, line: int | None) -> InputRefused:
    """The refusal of a line msgspec could not parse at all (``exc`` says why)."""
    encoding = _not_utf8(data)
    if encoding is not None:
        return InputRefused(TEXT_EXPECTED, encoding, line=line)
    if isinstance(exc, RecursionError):
        return InputRefused(_AN_EVENT, "JSON nested too deeply", line=line)
    return InputRefused("one JSON object per line", f"malformed JSON ({exc})", line=line)


def _not_utf8(data: bytes | str) -> str | None:
    """What makes ``data`` something other than UTF-8 text, or None.

    Byte offsets count from 0, as in msgspec's own messages.
    """
    if isinstance(data, str):
        nul = data.find("\x00")
        if nul >= 0:
            return f"a NUL character at character {nul} (UTF-16 text read as UTF-8?)"
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"text that cannot be UTF-8 (a lone surrogate at character {exc.start})"
        return None
    data = bytes(data)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return f"UTF-16 text (the byte-order mark {data[0]:02X} {data[1]:02X})"
    nul = data.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at byte {nul} (UTF-16 text?)"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"bytes that are not UTF-8 at byte {exc.start} (Latin-1 or UTF-16?)"
    return None


# --- a whole file that is JSON, but not JSON Lines ----------------------------------

_JSON_LINES = "JSON Lines: one event object per line"


def not_json_lines(lines: Sequence[str | bytes], refused: InputRefused) -> InputRefused | None:
    """What a whole input looks like when one of its lines is not an event object, or None.

    Called for a refusal of a line's JSON or of a line that is not an object
    (``refused``); says nothing new when the line is simply a bad event.
    """
    if refused.field not in (None, "$") or refused.event_type is not None:
        return None
    if not lines or not all(isinstance(line, type(lines[0])) for line in lines):
        return None
    joined: str | bytes = "".join(lines) if isinstance(lines[0], str) else b"".join(lines)  # type: ignore[arg-type]
    whole = _loads_or_none(joined.lstrip("\ufeff") if isinstance(joined, str) else joined.removeprefix(_BOM))
    spread = sum(1 for line in lines if line.strip())
    over = f" spread over {spread} lines" if spread > 1 else ""
    if isinstance(whole, list):
        items = "item" if len(whole) == 1 else "items"
        found = f"one JSON array of {len(whole)} {items}{over} (`jq -c '.[]' FILE` turns it into JSON Lines)"
        return InputRefused(_JSON_LINES, found, line=refused.line)
    if isinstance(whole, dict) and spread > 1:
        found = f"one JSON object{over}, pretty-printed (`jq -c . FILE` puts each object on one line)"
        return InputRefused(_JSON_LINES, found, line=refused.line)
    line = lines[(refused.line or 1) - 1].strip()
    if line in ("{", "[", b"{", b"["):
        shown_line = line if isinstance(line, str) else line.decode()
        found = f"`{shown_line}` alone on a line: pretty-printed JSON? (`jq -c . FILE` puts each object on one line)"
        return InputRefused(_JSON_LINES, found, line=refused.line)
    return None


_BOM = b"\xef\xbb\xbf"


# --- JSON that does not match the schema -------------------------------------------


def from_validation(exc: msgspec.ValidationError, data: bytes | str, line: int | None) -> InputRefused:
    """Rephrase msgspec's message as expected / found / where."""
    text = str(exc)
    raw = _loads_or_none(data)
    type_name = raw.get("type") if isinstance(raw, dict) else None
    event_type = type_name if isinstance(type_name, str) and type_name in _BY_NAME else None
    where: dict[str, Any] = {"line": line, "event_type": event_type}
    if m := _MISSING.match(text):
        path = f"{m['path'] or '$'}.{m['name']}"
        if m["name"] == "type":
            return InputRefused(f"a `type`, one of {TYPE_NAMES}", "no `type`", field=path, **where)
        return InputRefused(f"the required field `{m['name']}`", "nothing", field=path, **where)
    if m := _UNKNOWN.match(text):
        known = _known_fields(event_type, m["path"])
        if looks_like_code(m["name"]):
            found = "an unknown field whose name may be an activation code (not shown)"
            return InputRefused(known, found, field=m["path"] or "$", **where)
        path = f"{m['path'] or '$'}.{m['name']}"
        return InputRefused(known, f"the unknown field `{m['name']}`", field=path, **where)
    if m := _INVALID.match(text):
        path = m["path"]
        found = _found_at(raw, path, m["got"])
        if path == "$.type":
            return InputRefused(f"a `type`, one of {TYPE_NAMES}", found, field=path, **where)
        return InputRefused(_choices(event_type, path), found, field=path, **where)
    if m := _MALFORMED.match(text):
        # A string of the right type that does not parse (an RFC 3339 time, say).
        expected = _TIMESTAMP if "RFC3339" in m["what"] else f"a valid {m['what']}"
        return InputRefused(expected, _found_at(raw, m["path"]), field=m["path"], **where)
    if m := _OUT_OF_RANGE.match(text):
        return InputRefused("a number in range", "a number too large to hold", field=m["path"], **where)
    if m := _EXPECTED.match(text):
        path = m["path"] or "$"
        got = m["got"].strip("`") if m["got"] else None
        if path == "$":
            # Not an object at all: say what it is, never its value (it may be a bare code).
            return InputRefused(_AN_EVENT, _JSON_TYPES.get(got or "", "something else"), field=path, **where)
        expected = m["exp"].replace("`", "")
        found = _found_at(raw, path)
        if path.endswith(".code") and got:
            expected, found = "an activation code (a string)", f"{got} (not shown)"
        elif got and found == NOT_SHOWN:
            found = f"{got} {_MAY_BE_A_CODE}"
        elif got:
            found = got if found == _UNREADABLE_TEXT else f"{got} {found}"
        return InputRefused(expected, found, field=path, **where)
    # msgspec said something this module does not know how to word: pass it on,
    # unless the line holds anything that may be a code.
    hidden = raw is None or _holds_code(raw)
    found = "a value (not shown: the line may hold an activation code)" if hidden else text
    return InputRefused("a valid event", found, **where)


def shown(value: str) -> str:
    """A string from the input as a refusal shows it: quoted, or not at all when it may be a code."""
    return NOT_SHOWN if looks_like_code(value) else repr(value)


def _loads_or_none(data: bytes | str) -> Any:
    try:
        return msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


_UNREADABLE = object()
_UNREADABLE_TEXT = "an unreadable value"


def _found_at(raw: Any, path: str, rendered: str | None = None) -> str:
    """The value at a msgspec path (``$.a[0].b``), shown briefly; codes hidden.

    ``rendered`` is msgspec's own rendering of the value, used when given
    (and when the value may be shown at all).
    """
    if path.endswith(".code"):
        return "a code (not shown)"
    node = _UNREADABLE if raw is None else raw
    for key, index in _STEP.findall(path[1:]):
        try:
            node = node[key] if key else node[int(index)]  # type: ignore[index]
        except (KeyError, IndexError, TypeError, ValueError):
            node = _UNREADABLE
            break
    if node is _UNREADABLE:
        return _UNREADABLE_TEXT
    if _holds_code(node):
        return NOT_SHOWN
    if rendered is not None:
        return rendered
    try:
        text = msgspec.json.encode(node).decode()
    except (msgspec.EncodeError, RecursionError):
        return "a value nested too deeply to show"
    return text if len(text) <= 60 else text[:57] + "..."


def _holds_code(node: Any) -> bool:
    """True when any string in a JSON value (keys included) may be a code."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if looks_like_code(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
