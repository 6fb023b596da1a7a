"""The inspector's pages: each finds who asks, reads through the source, renders a template.

The same router serves ``license-ledger inspect`` (at ``/``) and the service
(at ``/ui/``). Who may see what is the service's table (:mod:`..tokens`): a
page needs the right to read traces, and a ``device`` token sees its own
device only. Without a token file (``inspect`` on loopback, or the service
with ``--insecure-no-auth``) nobody signs in and everything is visible.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader, State
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from ...engine.moments import format_time, utc_now
from ...engine.vocabulary import STATES
from ...errors import InputRefused, LedgerError, UnknownDevice
from ...store.audit import VerifyReport
from ..edge import Busy, moment, shown, shown_detail, whole_number
from ..tokens import (
    INVESTIGATE,
    READ_TRACE,
    VERIFY,
    Forbidden,
    Principal,
    TokenError,
    holds,
    require,
    token_digest,
)
from . import forensics, views
from .session import COOKIE, Sessions, same_origin, secure
from .source import Source
from .templating import STATIC

__all__ = ["ui_router"]

LOG = logging.getLogger("license_ledger.service")
_T = TypeVar("_T")
#: The longest search text and device name a page takes (device ids are at most 128 characters).
MAX_TEXT = 200

#: Every asset is the inspector's own: no other host is ever asked for anything.
_HEADERS = [
    ResponseHeader(
        name="Content-Security-Policy",
        value="default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


@dataclass
class Inspector:
    """What one mounted inspector holds: where it lives, its sessions, its counts, the last verify."""

    root: str
    sessions: Sessions
    tally: views.ResultTally = field(default_factory=views.ResultTally)
    last_verify: VerifyReport | None = None
    verified_at: datetime | None = None


def _inspector(request: Request[Any, Any, State]) -> Inspector:
    return cast(Inspector, request.route_handler.opt["inspector"])


def _source(request: Request[Any, Any, State]) -> Source:
    return cast(Source, request.app.state.service)


async def _read(source: Source, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(ledger, *args)`` in the source's worker thread (the ledger as it is then)."""
    return await source.call(lambda: fn(source.ledger, *args))


def _page(request: Request[Any, Any, State], name: str, status: int = 200, **context: Any) -> Template:
    inspector = _inspector(request)
    source = _source(request)
    principal: Principal | None = context.pop("principal", None)
    return Template(
        template_name=name,
        status_code=status,
        context={
            "root": inspector.root,
            "principal": principal,
            "signs_in": source.tokens is not None,
            "sees_all": principal is not None and principal.role != "device",
            **context,
        },
    )


def _signed_in(request: Request[Any, Any, State]) -> Principal | None:
    """Who is signed in (None: nobody, or a session that is no longer good)."""
    source = _source(request)
    if source.tokens is None:
        return Principal("admin")
    inspector = _inspector(request)
    digest = inspector.sessions.read(request.cookies.get(COOKIE))
    principal = None if digest is None else source.tokens.lookup_digest(digest)
    if principal is None or not holds(principal.role, READ_TRACE):
        return None
    note = request.scope.get("state", {}).get("access")
    if isinstance(note, dict):
        note["role"] = principal.role
    return principal


class _SignIn(Exception):
    """Nobody is signed in: the page sends the browser to the sign-in form."""


def _who(request: Request[Any, Any, State]) -> Principal:
    principal = _signed_in(request)
    if principal is None:
        raise _SignIn
    return principal


def _sign_in_redirect(request: Request[Any, Any, State]) -> Redirect:
    root = _inspector(request).root
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"{root}/sign-in?next={quote(wanted, safe='')}", status_code=303)


# --- pages -------------------------------------------------------------------------


@get("/", name="inspector:overview")
async def overview(request: Request[Any, Any, State]) -> Response[Any]:
    principal = _who(request)
    inspector = _inspector(request)
    if principal.device is not None:
        return Redirect(f"{inspector.root}/devices/{quote(principal.device)}", status_code=303)
    data = await _read(_source(request), views.overview, inspector.tally)
    return _page(
        request,
        "overview.html",
        principal=principal,
        overview=data,
        last_verify=inspector.last_verify,
        verified_at=inspector.verified_at,
    )


@post("/verify", name="inspector:verify", status_code=303)
async def run_verify(request: Request[Any, Any, State]) -> Response[Any]:
    principal = _who(request)
    require(principal, VERIFY)
    inspector = _inspector(request)
    inspector.last_verify = await _source(request).verify()
    inspector.verified_at = utc_now()
    return Redirect(f"{inspector.root}/#verify", status_code=303)


@get("/devices", name="inspector:search")
async def search(request: Request[Any, Any, State]) -> Response[Any]:
    principal = _who(request)
    root = _inspector(request).root
    if principal.device is not None:
        return Redirect(f"{root}/devices/{quote(principal.device)}", status_code=303)
    text = (request.query_params.get("q") or "").strip()
    state = request.query_params.get("state") or None
    if len(text) > MAX_TEXT:
        raise InputRefused(f"a search of at most {MAX_TEXT} characters", f"{len(text)} characters", field="q")
    if state is not None and state not in STATES:
        raise InputRefused(f"a state, one of {', '.join(STATES)}", repr(state[:40]), field="state")
    names, total, exact = await _read(_source(request), views.find_devices, text, state)
    if exact and state is None:
        return Redirect(f"{root}/devices/{quote(text)}", status_code=303)
    return _page(request, "search.html", principal=principal, q=text, state=state, names=names, total=total)


@get("/devices/{device:str}", name="inspector:device")
async def device(request: Request[Any, Any, State]) -> Response[Any]:
    principal = _who(request)
    name = _device_asked(request, principal)
    query = request.query_params
    as_of = moment(query.get("as_of") or None, "as_of")
    since, until = moment(query.get("from") or None, "from"), moment(query.get("to") or None, "to")
    return await _device_view(request, principal, name, as_of, since, until)


@post("/devices/{device:str}/what-if", name="inspector:what-if", status_code=200)
async def what_if(request: Request[Any, Any, State]) -> Response[Any]:
    """Replays the log in memory without the event picked: nothing is written."""
    principal = _who(request)
    name = _device_asked(request, principal)
    require(principal, INVESTIGATE, name)
    if not forensics.WHAT_IF_AVAILABLE:
        raise NotFoundException("no what-if here")
    drop = (await request.form()).get("drop")
    seq = whole_number(drop if isinstance(drop, str) else "", "drop", default=0, least=1)
    try:
        answer, refused = await _read(_source(request), forensics.what_if, name, [seq], []), None
    except InputRefused as exc:  # the change would make the log invalid: its one line
        answer, refused = None, str(exc)
    return await _device_view(request, principal, name, None, what_if=answer, refused=refused, dropped=seq)


def _device_asked(request: Request[Any, Any, State], principal: Principal) -> str:
    name = cast(str, request.path_params["device"])
    if len(name) > MAX_TEXT:
        raise UnknownDevice(name[:40] + "...")
    require(principal, READ_TRACE, name)
    return name


async def _device_view(
    request: Request[Any, Any, State],
    principal: Principal,
    name: str,
    as_of: datetime | None,
    since: datetime | None = None,
    until: datetime | None = None,
    **extra: Any,
) -> Response[Any]:
    source = _source(request)
    page = await _read(source, views.device_page, name, as_of, utc_now())
    # A device reads the seqs of its own timeline only, in any evidence.
    own = frozenset(item.entry.seq for item in page.timeline)
    for item in page.timeline:
        item.entry = shown(principal, item.entry, own)
        if principal.device is not None:
            item.evidence = [seq for seq in item.evidence if seq in own]
    if forensics.DIFF_AVAILABLE and since is not None and until is not None:
        found = await _read(source, forensics.diff, name, since, until)
        page.diff = forensics.shown_diff(principal, found, own)
    return _page(
        request,
        "device.html",
        principal=principal,
        page=page,
        diff_available=forensics.DIFF_AVAILABLE,
        diff_from=format_time(since) if since else None,
        diff_to=format_time(until) if until else None,
        what_if_available=forensics.WHAT_IF_AVAILABLE and holds(principal.role, INVESTIGATE),
        **{"what_if": None, "refused": None, "dropped": None, **extra},
    )


@get("/events/{seq:str}", name="inspector:event")
async def event(request: Request[Any, Any, State]) -> Response[Any]:
    principal = _who(request)
    number = whole_number(cast(str, request.path_params["seq"]), "seq", default=0, least=1)
    page = await _read(_source(request), views.event_page, number)
    if page is None:
        raise NotFoundException(f"no event #{number} in the log")
    if principal.device is not None:
        if principal.device not in page.concerned:
            raise Forbidden(principal, READ_TRACE, page.device or "another device")
        page.detail = shown_detail(principal, page.detail)
        page.changed = [c for c in page.changed if c.device == principal.device]
        page.concerned = [principal.device]
        own = await _read(_source(request), views.own_seqs, principal.device)
        page.evidence = [seq for seq in page.evidence if seq in own]
    head = await _read(_source(request), lambda ledger: ledger.backend.head()[0])
    return _page(request, "event.html", principal=principal, page=page, head=head)


# --- signing in and out ----------------------------------------------------------------


@get("/sign-in", name="inspector:sign-in")
async def sign_in_form(request: Request[Any, Any, State]) -> Response[Any]:
    root = _inspector(request).root
    if _source(request).tokens is None or _signed_in(request) is not None:
        return Redirect(f"{root}/", status_code=303)
    return _page(request, "sign_in.html", next=_next(request, request.query_params.get("next")))


@post("/sign-in", name="inspector:sign-in-post", status_code=303)
async def sign_in(request: Request[Any, Any, State]) -> Response[Any]:
    inspector = _inspector(request)
    source = _source(request)
    if not same_origin(request):
        raise PermissionDeniedException("cross-site form")
    form = await request.form()
    wanted = _next(request, form.get("next"))
    token = form.get("token")
    principal = None
    if source.tokens is not None and isinstance(token, str) and 0 < len(token.strip()) <= MAX_TEXT:
        principal = source.tokens.lookup(token.strip())
    if principal is None or not holds(principal.role, READ_TRACE):
        # Never why: unknown, revoked, or of a role that reads nothing here.
        return _page(request, "sign_in.html", status=401, next=wanted, refused=True)
    response = Redirect(wanted, status_code=303)
    response.set_cookie(inspector.sessions.cookie(token_digest(cast(str, token).strip()), secure(request)))
    return response


@post("/sign-out", name="inspector:sign-out", status_code=303)
async def sign_out(request: Request[Any, Any, State]) -> Response[Any]:
    inspector = _inspector(request)
    response = Redirect(f"{inspector.root}/sign-in", status_code=303)
    response.set_cookie(inspector.sessions.ended(secure(request)))
    return response


def _next(request: Request[Any, Any, State], wanted: object) -> str:
    """Where to go after signing in: a page of this inspector, else its overview."""
    root = _inspector(request).root
    if (
        isinstance(wanted, str)
        and wanted.startswith(f"{root}/")
        and not wanted.startswith("//")
        and "\\" not in wanted
        and len(wanted) <= 2 * MAX_TEXT
    ):
        return wanted
    return f"{root}/"


# --- errors as pages ---------------------------------------------------------------------


def error_page(request: Request[Any, Any, State], exc: Exception) -> Response[Any]:
    """Errors under the inspector become pages (the API's JSON errors stay the API's)."""
    if isinstance(exc, _SignIn):
        return _sign_in_redirect(request)
    status, title, message = _error(exc)
    principal = _signed_in(request) if status != 500 else None
    return _page(request, "error.html", status=status, principal=principal, title=title, message=message)


def _error(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, UnknownDevice):
        return 404, "No such device", str(exc)
    if isinstance(exc, InputRefused):
        return 422, "That cannot be read", str(exc)
    if isinstance(exc, Forbidden):
        return 403, "Not for this token", "This token may not see that page."
    if isinstance(exc, PermissionDeniedException):
        return (
            403,
            "Form refused",
            "The form was stale or sent from another page: reload the page and try again.",
        )
    if isinstance(exc, Busy):
        return 429, "Busy", "A verify is already running: wait for it, then reload the overview."
    if isinstance(exc, NotFoundException):
        return 404, "Not found", str(exc.detail)
    if isinstance(exc, HTTPException):
        return exc.status_code, "Request refused", str(exc.detail)
    if isinstance(exc, TokenError):
        LOG.error("%s", exc)
        return 500, "Token file", "The service cannot read its token file."
    if isinstance(exc, LedgerError):
        return 503, "The ledger cannot be read", str(exc)
    LOG.exception("unhandled error in the inspector", exc_info=exc)
    return 500, "Internal error", f"internal error ({type(exc).__name__})"


# --- the router ------------------------------------------------------------------------------


def ui_router(root: str = "") -> Router:
    """The inspector's pages under ``root`` (``""``: at ``/``; the service uses ``/ui``)."""
    inspector = Inspector(root, Sessions(path=f"{root}/"))
    csrf = CSRFConfig(
        secret=secrets.token_hex(32),
        cookie_name="license_ledger_csrf",
        cookie_path=f"{root}/",
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    static = create_static_files_router(path="/static", directories=[STATIC], name="inspector:static")
    return Router(
        path=root or "/",
        route_handlers=[
            overview,
            run_verify,
            search,
            device,
            what_if,
            event,
            sign_in_form,
            sign_in,
            sign_out,
            static,
        ],
        include_in_schema=False,
        opt={"inspector": inspector},
        middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
        exception_handlers={Exception: error_page},
        response_headers=_HEADERS,
    )
