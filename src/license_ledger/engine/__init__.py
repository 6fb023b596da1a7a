"""The engine: pure, no I/O. Events and their codec, codes, the rules (one
``transitions`` definition compiled into a table), the guards and effects,
the state and the world that replay folds events into, replay itself and the
views it answers with.

Modules, in the order data flows through them:

- ``codes``, ``moments``, ``events``, ``codec`` (its refusals worded in
  ``_refusals``), ``schemas``: input becomes sealed, stamped events (and
  events become canonical bytes).
- ``records``, ``state``: one record per device and per code, and the clock;
  the narrow interface the guards and effects see.
- ``checks``, ``effects``, ``rules``: the guards, the effects and the table
  that orders them.
- ``world``: checks and applies one event (a State with those two steps);
  ``journal``: the undo journal of a batch.
- ``replay``, ``queries``, ``views``, ``snapshot``: folding a log, asking the
  state questions, the answers' shapes, the state as bytes.

Layer: the bottom (above ``errors`` only). It reads no clock, no file and no
socket; time is the events' ``at``. Nothing here imports the store, the
ledger, the service or the command line, and no module here imports another
that imports it back (not even for type checking).
"""
