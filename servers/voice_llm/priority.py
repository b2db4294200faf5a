"""Run the LLM server below the TTS and STT beside it in the CPU's priority.

On a CPU machine the LLM goes on writing a reply while the TTS synthesizes its first phrase. At
equal priority they share the cores, and Kokoro's first phrase takes 1.6-1.8x as long as on idle
cores. Lowering the LLM brings that first audio ~0.3 s sooner on a 2-core laptop, but the LLM then
writes the next phrase later, so the pause after the first phrase grows: a trade, off by default
(docs/benchmarks.md, "CPU priority").

A thread's nice value alone does not do it where the kernel groups tasks by session (autogroup,
on by default in most distributions' kernels): nice then orders threads only inside their own
session, and sessions share the CPU equally, so a server started in its own session (as
``voice-agent up`` starts each) is not lowered by renicing its threads. So both are lowered: the
threads' nice, which every thread the server starts afterwards inherits, and, when the server
leads its own session, that session's autogroup nice. In a container neither reaches the other
pods: there the pod's CPU request (its cgroup's CPU weight) decides between pods.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("voice_llm")

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(nice: int, autogroup: Path = AUTOGROUP) -> list[str]:
    """Lower this process to ``nice`` (0: leave it); before the server starts any thread. Returns
    what was lowered ("threads", "autogroup"), for the log."""
    if nice <= 0:
        return []
    os.setpriority(os.PRIO_PROCESS, 0, nice)  # this thread; the threads it starts inherit it
    lowered = ["threads"]
    # Only the autogroup of a session this process leads: another session's (a terminal's) would
    # lower everything started from it.
    if os.getsid(0) == os.getpid() and autogroup.exists():
        try:
            autogroup.write_text(str(nice))
            lowered.append("autogroup")
        except OSError as exc:
            log.warning("could not lower the session's autogroup to nice %d: %s", nice, exc)
    return lowered
