"""The forensic routes: a device's diff and first match, the devices by state, what-if.

``diff`` and ``first`` are for auditors and admins, and for a device token
about itself (``read history``); ``devices`` and ``what-if`` look at every
device and are for auditors and admins only (``investigate``). What a device
token reads is redacted as everywhere (:func:`.edge.shown`): no other
device's name, and no seq of an event outside its own trace in an evidence.
"""

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State

from ..engine.forensics.views import DeviceState, Diff, FirstMatch, WhatIf
from ..errors import InputRefused
from ..ledger import Ledger
from .edge import fields, moment, shown, whole_number
from .openapi import DEFAULT_FEED, FEED_LIMIT
from .routes import _authenticate, _device, _own_seqs, _service
from .tokens import INVESTIGATE, READ_HISTORY, SEES_EVERY_DEVICE, require

__all__ = ["FORENSIC_ROUTES"]

_MOMENT = "an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"


def _text(request: Request[Any, Any, State], name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and len(value) > 200:
        raise InputRefused("at most 200 characters", f"{len(value)} characters", field=name)
    return value


@get(
    "/devices/{device:str}/diff",
    operation_id="getDeviceDiff",
    tags=["forensics"],
    summary="What changed in the device's status between two moments, and by which event",
)
async def device_diff(request: Request[Any, Any, State]) -> Diff:
    """The status at `from` and at `to` (default: now), each field that changed with the seq of the event that changed it last, and the events between. A device token may ask about itself only."""
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_HISTORY, device)
    since = moment(_text(request, "from"), "from")
    if since is None:
        raise InputRefused(f"a `from` moment ({_MOMENT})", "none", field="from")
    until = moment(_text(request, "to"), "to")
    service = _service(request)
    found = await service.read(Ledger.diff, device, since, until)
    if principal.role in SEES_EVERY_DEVICE:
        return found
    own = await _own_seqs(request, principal)
    return msgspec.structs.replace(found, events=shown(principal, found.events, own))


@get(
    "/devices/{device:str}/first",
    operation_id="getDeviceFirst",
    tags=["forensics"],
    summary="The first event after which the device's status matched (since when)",
)
async def device_first(request: Request[Any, Any, State]) -> FirstMatch:
    """Searches the stored statuses (an index, not a replay) for `state`, `backup_state`, `action`, and the event's `result` and `reason`, after `after`. `seq`, `at` and `status` are null when it never matched. A device token may ask about itself only."""
    principal = _authenticate(request)
    device = _device(request)
    require(principal, READ_HISTORY, device)
    criteria = {
        name: _text(request, name) for name in ("state", "backup_state", "action", "result", "reason")
    }
    after = moment(_text(request, "after"), "after")
    service = _service(request)

    def first(ledger: Ledger) -> FirstMatch:
        return ledger.first(device, after=after, **criteria)

    return await service.read(first)


@get(
    "/devices",
    operation_id="getDevices",
    tags=["forensics"],
    summary="The devices and their state as of a moment, by name, a page at a time",
)
async def device_list(request: Request[Any, Any, State]) -> list[DeviceState]:
    """Each device's state as of `as_of` (default: now), only those in `state`, sorted by name; the page after the device named `after`, at most `limit`. One pass over an index, not a replay."""
    principal = _authenticate(request)
    require(principal, INVESTIGATE)
    state = _text(request, "state")
    as_of = moment(_text(request, "as_of"), "as_of")
    after = _text(request, "after") or ""
    limit = whole_number(request.query_params.get("limit"), "limit", default=DEFAULT_FEED, least=1)
    service = _service(request)

    def devices(ledger: Ledger) -> list[DeviceState]:
        return ledger.devices(state, as_of, after=after, limit=min(limit, FEED_LIMIT))

    return await service.read(devices)


def _seq(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputRefused("a seq (a whole number)", f"a JSON {type(value).__name__}", field=field)
    return value


def _list(value: Any, field: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise InputRefused("a JSON array", f"a JSON {type(value).__name__}", field=field)
    if len(value) > limit:
        raise InputRefused(f"at most {limit} items", f"{len(value)} items", field=field)
    return value


def what_if_body(body: bytes, max_batch: int) -> tuple[list[int], list[tuple[int, list[Any]]], Any]:
    """``{"drop": [seqs], "insert": [{"after": seq, "events": [...]}], "as_of": T}``, within the batch cap."""
    given = fields(body, ("drop", "insert", "as_of"))
    drop = [
        _seq(seq, f"$.drop[{n}]") for n, seq in enumerate(_list(given.get("drop", []), "$.drop", max_batch))
    ]
    insert: list[tuple[int, list[Any]]] = []
    total = 0
    for n, item in enumerate(_list(given.get("insert", []), "$.insert", max_batch)):
        where = f"$.insert[{n}]"
        if not isinstance(item, dict) or set(item) - {"after", "events"} or "after" not in item:
            raise InputRefused(
                "an object with `after` (a seq) and `events` (an array)", "something else", field=where
            )
        events = _list(item.get("events", []), f"{where}.events", max_batch)
        total += len(events)
        if total > max_batch:
            raise InputRefused(f"at most {max_batch} inserted events in all", f"{total} or more", field=where)
        insert.append((_seq(item["after"], f"{where}.after"), events))
    as_of = given.get("as_of")
    if as_of is not None and not isinstance(as_of, str):
        raise InputRefused(_MOMENT, f"a JSON {type(as_of).__name__}", field="$.as_of")
    return drop, insert, moment(as_of, "$.as_of")


@post(
    "/what-if",
    operation_id="whatIf",
    status_code=200,
    tags=["forensics"],
    summary="Replay the log in memory with events dropped or inserted; nothing is written",
)
async def what_if(request: Request[Any, Any, State]) -> WhatIf:
    """Which stored events would get another result (and the first of them) and which devices another status as of `as_of` (default: now). Inserted events take raw codes or fingerprints, and the time of the event at `after` when they have no `at`. A change that makes the log invalid is refused (422) as an append would refuse it, naming the seq. Runs on a connection of its own, one at a time (429 meanwhile)."""
    principal = _authenticate(request)
    require(principal, INVESTIGATE)
    service = _service(request)
    drop, insert, as_of = what_if_body(await request.body(), service.max_batch)
    return await service.what_if(drop, insert, as_of)


FORENSIC_ROUTES = [device_diff, device_first, device_list, what_if]
