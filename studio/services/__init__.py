"""Qt services: worker threads, queued signals, the Session. QtCore only, never widgets.

Every object here that other code connects to lives in the GUI thread and re-emits what its
worker sends, so any receiver (a slot or a plain lambda) runs in the GUI thread.
"""

import os
import sys


def quiet_progress_bars() -> None:
    """No tqdm progress bars from engine calls made by the app's workers ("Loading weights"
    and the like): nobody reads the app's stderr, and the window shows its own progress."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when transformers loads
    hf_logging = sys.modules.get("transformers.utils.logging")  # already loaded: switch it off
    if hf_logging is not None:
        hf_logging.disable_progress_bar()


quiet_progress_bars()
