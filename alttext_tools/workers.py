"""Process-pool workers that die with the process that started them (`check` and `fix` on all cores).

A worker blocked on its task queue, or busy rewriting files, would otherwise outlive a parent
killed with SIGKILL: nothing tells it. On Linux the kernel sends SIGKILL to the worker when the
parent dies (PR_SET_PDEATHSIG; strictly, when the thread that forked it ends: the pools are made
and fed by the thread running the command, which outlives them); everywhere a thread polls the
parent's pid as a fallback.
"""

from __future__ import annotations

import os
import sys
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 0.25


def die_with_parent(parent: int) -> None:
    """Pool initializer (`initargs=(os.getpid(),)` in the parent): end this worker when `parent` dies."""
    # Imported here, in the worker: a one-file `check` never starts one (~8 ms of start-up).
    import ctypes
    import signal
    import threading

    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="alttext-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # no cleanup: the parent that would collect our results is gone
