"""Who may call the service: bearer tokens, one role each, and what each role may do.

A token file is JSON that holds only the SHA-256 of each token, never the
token: a stolen file lets nobody in. :func:`new_token` prints a fresh token
once; :class:`TokenFile` looks a presented token up in constant time and
re-reads the file when it changes, so a token added or deleted while the
service runs takes effect on the next request.

The roles and their rights are the table :data:`RIGHTS`; the service asks
:func:`require` before it calls the library, and nothing else decides.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from ..engine.events import DeviceId
from ..engine.moments import utc_now
from ..errors import LedgerError

__all__ = [
    "APPEND_ANY",
    "CHOOSES_TIME",
    "RIGHTS",
    "ROLES",
    "SEES_EVERY_DEVICE",
    "SENDS_FINGERPRINTS",
    "Forbidden",
    "Principal",
    "TokenError",
    "TokenFile",
    "TokenInfo",
    "append_right",
    "holds",
    "list_tokens",
    "new_token",
    "require",
    "revoke_token",
    "token_digest",
]

Role = Literal["vendor", "system", "device", "auditor", "admin"]
ROLES: tuple[str, ...] = ("vendor", "system", "device", "auditor", "admin")

#: Tokens start with this, so that secret scanners and people recognise one.
TOKEN_PREFIX = "llt_"
FORMAT = "license-ledger-tokens"
FORMAT_VERSION = 1

READ_STATUS = "read status"
READ_TRACE = "read trace"
READ_EVENTS = "read events"
VERIFY = "verify"
#: ``diff`` and ``first`` of a device (a device token: of itself only).
READ_HISTORY = "read history"
#: ``devices`` and ``what-if``: questions about every device.
INVESTIGATE = "investigate"
TICK = "tick"
#: Appending events of some type: what a batch needs when no event in it names a type.
APPEND_ANY = "append events"


def append_right(event_type: str) -> str:
    """The right to append events of one type."""
    return f"append {event_type}"


_VENDOR = ("CodeIssued", "CodeBlocked")
_SYSTEM = ("DeviceRegistered", "AppUpdated", "ConsoleConnectionChanged", "LicenseExpired")
_USER = ("CodeEntered", "TryAgainClicked", "ActivateNowClicked", "LicenseRemoved")

#: What each role may do. A ``device`` token holds its rights for the one
#: device it is bound to, and for no other.
RIGHTS: dict[str, frozenset[str]] = {
    "vendor": frozenset(append_right(t) for t in _VENDOR),
    "system": frozenset([*(append_right(t) for t in _SYSTEM), TICK]),
    "device": frozenset([*(append_right(t) for t in _USER), READ_STATUS, READ_TRACE, READ_HISTORY]),
    "auditor": frozenset([READ_STATUS, READ_TRACE, READ_EVENTS, VERIFY, READ_HISTORY, INVESTIGATE]),
    "admin": frozenset(
        [
            *(append_right(t) for t in _VENDOR + _SYSTEM + _USER),
            TICK,
            READ_STATUS,
            READ_TRACE,
            READ_EVENTS,
            VERIFY,
            READ_HISTORY,
            INVESTIGATE,
        ]
    ),
}


#: The trust rules beside the rights (docs/service.md, "Trust"): which roles
#: may give an event its time (``at``); a device's events take the service's clock.
CHOOSES_TIME: frozenset[str] = frozenset({"vendor", "system", "admin"})
#: Which roles may send a code as its stored fingerprint (``{"sha256", "tail",
#: "well_formed"}``): the admin, who imports exported logs. Others send raw codes.
SENDS_FINGERPRINTS: frozenset[str] = frozenset({"admin"})
#: Which roles see other devices named in results and traces; for the others
#: the service redacts them (seat holders become a count).
SEES_EVERY_DEVICE: frozenset[str] = frozenset({"vendor", "system", "auditor", "admin"})


class TokenError(LedgerError):
    """A token file that cannot be read or written, or a token asked for wrongly."""


class Principal(msgspec.Struct, frozen=True):
    """Who a request acts as: a role, and for ``device`` the device it is bound to."""

    role: str
    device: str | None = None

    def describe(self) -> str:
        bound = f", bound to device {self.device!r}" if self.device is not None else ""
        return f"role {self.role}{bound}"


class Forbidden(LedgerError):
    """A valid token asked for something its role may not do; nothing was stored."""

    def __init__(self, principal: Principal, right: str, device: str | None = None, where: str = "") -> None:
        self.principal = principal
        self.right = right
        self.device = device
        held_by = [role for role in ROLES if holds(role, right)]
        # "for device X" only when the role holds the right, but for its own device.
        elsewhere = principal.role == "device" and right in RIGHTS["device"] and device is not None
        target = f" for device {device!r}" if elsewhere else ""
        prefix = f"{where}: " if where else ""
        stored = "; nothing was stored" if right.startswith("append") or right == TICK else ""
        super().__init__(
            f"{prefix}this token ({principal.describe()}) lacks the right `{right}`{target} "
            f"(held by: {', '.join(held_by) or 'no role'}){stored}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "error": "forbidden",
            "message": str(self),
            "missing_right": self.right,
            "device": self.device,
            "role": self.principal.role,
            "stored": False,
        }


def holds(role: str, right: str) -> bool:
    """Whether ``role`` holds ``right`` (:data:`APPEND_ANY`: any right to append)."""
    rights = RIGHTS.get(role, frozenset())
    if right == APPEND_ANY:
        return any(held.startswith("append ") for held in rights)
    return right in rights


def require(principal: Principal, right: str, device: str | None = None, *, where: str = "") -> None:
    """Raise :class:`Forbidden` unless ``principal`` holds ``right`` (for ``device``)."""
    if not holds(principal.role, right):
        raise Forbidden(principal, right, device, where)
    if principal.role == "device" and device != principal.device:
        raise Forbidden(principal, right, device, where)


# --- the token file -----------------------------------------------------------


class _Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    role: Role
    created_at: str
    device: DeviceId | None = None


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: str
    version: int
    tokens: list[_Entry]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_File)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a token: all the token file keeps of it."""
    return _digest(token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _unreadable(path: Path, exc: OSError) -> TokenError:
    if isinstance(exc, FileNotFoundError):
        return TokenError(
            f"{path}: no such token file (create one with `license-ledger token new --role R --tokens {path}`)"
        )
    return TokenError(f"{path}: cannot read the token file ({exc.strerror})")


def _read(path: Path) -> _File:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        parsed = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TokenError(f"{path}: not a license-ledger token file ({exc})") from None
    if parsed.format != FORMAT or parsed.version != FORMAT_VERSION:
        raise TokenError(
            f"{path}: expected a {FORMAT} file of version {FORMAT_VERSION}, "
            f"found format {parsed.format!r} version {parsed.version}"
        )
    for entry in parsed.tokens:
        if (entry.role == "device") != (entry.device is not None):
            raise TokenError(f"{path}: a token of role {entry.role} with device {entry.device!r}")
    return parsed


def _write(path: Path, content: _File) -> None:
    """Replace the file atomically, readable by its owner only."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(msgspec.json.format(_encoder.encode(content), indent=2) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def new_token(path: str | Path, role: str, device: str | None = None) -> str:
    """Create a token of ``role`` (bound to ``device`` for the device role), store its hash, return it.

    The token is returned once and stored nowhere: only its SHA-256 reaches
    the file, which is created (mode 600) if it does not exist.
    """
    path = Path(path)
    if role not in ROLES:
        raise TokenError(f"expected a role, one of {', '.join(ROLES)}, found {role!r}")
    if role == "device":
        if device is None:
            raise TokenError("expected a device for a token of role device (--device D), found none")
        try:
            msgspec.convert(device, DeviceId)
        except msgspec.ValidationError:
            raise TokenError(
                f"expected a device identifier (letters, digits and . _ : @ -), found {device!r}"
            ) from None
    elif device is not None:
        raise TokenError(f"expected no device for a token of role {role} (only device tokens are bound)")
    current = _read(path) if path.exists() else _File(FORMAT, FORMAT_VERSION, [])
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry = _Entry(
        sha256=_digest(token),
        role=role,  # type: ignore[arg-type]  # checked against ROLES above
        created_at=utc_now().isoformat(timespec="seconds").replace("+00:00", "Z"),
        device=device,
    )
    _write(path, _File(FORMAT, FORMAT_VERSION, [*current.tokens, entry]))
    return token


class TokenInfo(msgspec.Struct, frozen=True):
    """A token as ``token list`` shows it: never the token, an id cut from its hash."""

    id: str
    role: str
    device: str | None
    created_at: str


#: How many hex digits of a token's SHA-256 name it in ``token list``.
TOKEN_ID_LENGTH = 12


def _info(entry: _Entry) -> TokenInfo:
    return TokenInfo(entry.sha256[:TOKEN_ID_LENGTH], entry.role, entry.device, entry.created_at)


def list_tokens(path: str | Path) -> list[TokenInfo]:
    """The tokens in a token file, oldest first, each named by the start of its hash."""
    return [_info(entry) for entry in _read(Path(path)).tokens]


def revoke_token(path: str | Path, token_id: str) -> TokenInfo:
    """Remove the one token whose hash starts with ``token_id`` (8 hex digits at least).

    The service stops accepting it at its next request: it re-reads the file.
    """
    path = Path(path)
    wanted = token_id.strip().lower()
    if len(wanted) < 8 or any(ch not in "0123456789abcdef" for ch in wanted):
        raise TokenError(f"expected a token id of 8 to 64 hex digits (see `token list`), found {token_id!r}")
    current = _read(path)
    matches = [entry for entry in current.tokens if entry.sha256.startswith(wanted)]
    if len(matches) != 1:
        found = "no token" if not matches else f"{len(matches)} tokens"
        raise TokenError(f"expected one token whose id starts with {wanted!r}, found {found} in {path}")
    kept = [entry for entry in current.tokens if entry is not matches[0]]
    _write(path, _File(FORMAT, FORMAT_VERSION, kept))
    return _info(matches[0])


class TokenFile:
    """The tokens a service accepts, re-read when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: list[_Entry] = []
        #: The principal of each token, by the token's SHA-256 (hex).
        self._principals: dict[str, Principal] = {}
        self._reload()

    def __len__(self) -> int:
        return len(self._entries)

    def _reload(self) -> None:
        # One stat per request (about a microsecond); the file is read again only when it changed.
        try:
            info = os.stat(self.path)
        except OSError as exc:
            self._entries, self._principals, self._stamp = [], {}, None
            raise _unreadable(self.path, exc) from None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp == self._stamp:
                return
            # Fail closed: a file that turns unreadable lets nobody in.
            self._entries, self._principals, self._stamp = [], {}, None
            entries = _read(self.path).tokens
            self._principals = {entry.sha256: Principal(entry.role, entry.device) for entry in entries}
            self._entries = entries
            self._stamp = stamp

    def lookup(self, token: str) -> Principal | None:
        """The principal a token stands for, or None.

        The token's SHA-256 is looked up among the file's: what the time of
        the look-up may tell is about the hash of the token presented, which
        says nothing about any stored token.
        """
        return self.lookup_digest(_digest(token))

    def lookup_digest(self, digest: str) -> Principal | None:
        """The principal of the token whose SHA-256 (hex) is ``digest`` (a signed-in session keeps only that)."""
        self._reload()
        return self._principals.get(digest)
