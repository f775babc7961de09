"""Qt services: worker threads, queued signals, the Session. QtCore only, never widgets.

Every object here that other code connects to lives in the GUI thread and re-emits what its
worker sends, so any receiver (a slot or a plain lambda) runs in the GUI thread.
"""
