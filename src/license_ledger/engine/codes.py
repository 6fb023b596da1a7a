"""Activation codes: normalise what a user typed, fingerprint it, mask it.

A raw code is a secret. It lives only as long as the input that carried it:
before anything is stored it becomes a :class:`CodeRef`, which holds the
SHA-256 of the normalised code, its last five characters for display, and
whether it was well-formed (replay needs that to reject a mistyped entry).
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

import msgspec

__all__ = ["CODE_LENGTH", "CodeRef", "looks_like_code", "mask", "normalise", "seal_code"]

CODE_LENGTH = 20
TAIL_LENGTH = 5
_WELL_FORMED = re.compile(r"[A-Z0-9]{20}")
_STRIPPED = re.compile(r"[\s-]+")
_CODE_RUN = re.compile(f"[A-Z0-9]{{{CODE_LENGTH}}}")


# gc=False: only strings and a bool inside, so never part of a cycle; untracked,
# hundreds of thousands of them cost the garbage collector nothing on replay.
class CodeRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True, gc=False):
    """What the log keeps of a code: a fingerprint, never the code."""

    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    tail: Annotated[str, msgspec.Meta(max_length=TAIL_LENGTH)]
    well_formed: bool


def normalise(raw: str) -> str:
    """Drop surrounding space, hyphens and inner spaces; upper-case."""
    return _STRIPPED.sub("", raw).upper()


def seal_code(raw: str) -> CodeRef:
    """Turn a raw code (as typed) into the reference the log stores."""
    code = normalise(raw)
    well_formed = _WELL_FORMED.fullmatch(code) is not None
    return CodeRef(
        sha256=hashlib.sha256(code.encode("utf-8")).hexdigest(),
        tail=code[-TAIL_LENGTH:] if well_formed else "",
        well_formed=well_formed,
    )


def looks_like_code(text: str) -> bool:
    """True when ``text`` holds something a user could have typed as a code.

    That is 20 letters or digits in a row once spaces and hyphens are dropped
    (as :func:`normalise` drops them). A refusal never shows such a value: it
    may be a code typed into the wrong field. Some harmless values (a long
    device id) are hidden too; that is the price of never echoing a secret.
    """
    return _CODE_RUN.search(normalise(text)) is not None


def describe_malformed(raw: str) -> str:
    """Say what is wrong with a raw code without repeating the secret."""
    code = normalise(raw)
    if len(code) != CODE_LENGTH:
        return f"{len(code)} characters after dropping spaces and hyphens"
    bad = sorted({ch for ch in code if not ("A" <= ch <= "Z" or "0" <= ch <= "9")})
    return f"characters outside A-Z and 0-9 ({len(bad)} distinct)"


def mask(ref: CodeRef) -> str:
    """The code as the application shows it: ``*****-*****-*****-ABCDE``."""
    if not ref.well_formed:
        return "(malformed code)"
    return "*****-*****-*****-" + ref.tail
