"""Write the events' JSON Schemas to ``event_schemas/``; ``--check`` fails when they drifted.

``event_schemas/`` is generated from the event Structs (through
:func:`license_ledger.engine.schemas.event_schemas`, the same function behind
``license-ledger schema``) and never edited by hand: one file per event type,
and ``event.json`` for the tagged union of them all. Run this after changing
an event; ``tests/test_schemas.py`` fails until the files are regenerated.

Usage: python scripts/gen_schemas.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from license_ledger.engine.schemas import event_schemas

OUT = Path(__file__).resolve().parents[1] / "event_schemas"


def render() -> dict[str, str]:
    """Each file's name and exact content: sorted keys, indent 2, a trailing newline."""
    return {
        f"{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in sorted(event_schemas().items())
    }


def drift(directory: Path | None = None) -> list[str]:
    """The files of ``directory`` (default: ``event_schemas/``) that are missing, different or not generated."""
    directory = directory or OUT
    wanted = render()
    present = {path.name: path.read_text() for path in directory.glob("*.json")}
    problems = [f"{name} (missing)" for name in wanted if name not in present]
    problems += [f"{name} (differs)" for name in wanted if name in present and present[name] != wanted[name]]
    problems += [f"{name} (not generated)" for name in present if name not in wanted]
    return sorted(problems)


def write(directory: Path | None = None) -> list[str]:
    """Write every schema, remove schemas of event types that no longer exist; return what changed."""
    directory = directory or OUT
    changed = drift(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render()
    for path in directory.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (directory / name).write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files differ")
    args = parser.parse_args(argv)
    if args.check:
        stale = drift()
        for line in stale:
            print(f"event_schemas/{line}", file=sys.stderr)
        if stale:
            print("The schemas drifted: run python scripts/gen_schemas.py", file=sys.stderr)
        return 1 if stale else 0
    changed = write()
    print(f"Wrote {len(render())} schemas to event_schemas/ ({len(changed)} changed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
