"""The engine: pure, no I/O. Events and their codec, codes, the rules (one
``transitions`` definition compiled into a table), the guards and effects,
the world that replay folds events into, replay itself and the views it
answers with.

Layer: the bottom (above ``errors`` only). It reads no clock, no file and no
socket; time is the events' ``at``. Nothing here imports the store, the
ledger, the service or the command line.
"""
