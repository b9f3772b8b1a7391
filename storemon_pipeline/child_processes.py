"""Long-lived children in their own process groups: start, signal, stop, say how one ended.

Shared by `storemon run` (stops everything when one child dies) and `storemon run-production`
(restarts the one that died). Each child leads its own group: `dagster dev` and the Dagster
commands started from a script ignore SIGTERM sent to them alone and leave workers behind, so
the whole group is signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import IO, Iterable

# How long a child's process group gets to leave after SIGINT before SIGKILL.
STOP_TIMEOUT_S = 30


def _default_sigint() -> None:
    # A shell starting us in the background leaves SIGINT ignored, and children inherit that
    # (Dagster then ignores Ctrl-C and our SIGINT): each child gets the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_in_group(command: list[str], env: dict[str, str], log: IO[bytes] | None = None) -> subprocess.Popen:
    """`command` as the leader of a new process group (and session)."""
    return subprocess.Popen(
        command, env=env, start_new_session=True, preexec_fn=_default_sigint,
        **({"stdout": log, "stderr": subprocess.STDOUT} if log is not None else {}),
    )


def signal_group(child: subprocess.Popen, signum: int) -> bool:
    """Send `signum` to the child's process group; False when nothing of it is left."""
    child.poll()  # reaps the leader, which would otherwise keep its group alive as a zombie
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_groups(children: Iterable[subprocess.Popen], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGINT every child's group (Ctrl-C), wait for them to leave, SIGKILL what is left."""
    children = list(children)
    for child in children:
        signal_group(child, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    for child in children:
        while signal_group(child, 0) and time.monotonic() < deadline:
            time.sleep(0.2)
        if signal_group(child, signal.SIGKILL):
            child.wait(timeout=10)


def how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"
