"""voice_llm.priority: the LLM server lowers its threads and, when it leads its session, its autogroup.

Lowering a priority cannot be undone without privileges, so each case runs in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voice_llm.settings import LLMSettings

CHILD = """
import json, os, sys, threading
from pathlib import Path
from voice_llm.priority import lower_priority
lowered = lower_priority(int(sys.argv[1]), Path(sys.argv[2]))
seen = {}
def later_thread():
    seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
thread = threading.Thread(target=later_thread)
thread.start()
thread.join()
print(json.dumps({"lowered": lowered, "later_thread_nice": seen["thread"]}))
"""


def run_child(nice: int, autogroup: Path, own_session: bool) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(nice), str(autogroup)],
        capture_output=True, text=True, timeout=30, check=True, start_new_session=own_session,
    )
    return json.loads(result.stdout)


def test_a_server_in_its_own_session_lowers_its_threads_and_its_autogroup(tmp_path: Path):
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("/autogroup-1 nice 0\n")
    child = run_child(7, autogroup, own_session=True)
    assert child == {"lowered": ["threads", "autogroup"], "later_thread_nice": 7}
    assert autogroup.read_text() == "7"


def test_a_server_in_someone_elses_session_leaves_that_sessions_autogroup_alone(tmp_path: Path):
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("/autogroup-1 nice 0\n")
    child = run_child(7, autogroup, own_session=False)
    assert child == {"lowered": ["threads"], "later_thread_nice": 7}
    assert autogroup.read_text() == "/autogroup-1 nice 0\n"


def test_nice_zero_changes_nothing(tmp_path: Path):
    autogroup = tmp_path / "autogroup"
    autogroup.write_text("/autogroup-1 nice 0\n")
    assert run_child(0, autogroup, own_session=True) == {"lowered": [], "later_thread_nice": 0}
    assert autogroup.read_text() == "/autogroup-1 nice 0\n"


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="this kernel has no autogroup scheduling")
def test_the_kernels_own_autogroup_is_lowered():
    probe = "from voice_llm.priority import AUTOGROUP, lower_priority; lower_priority(5); print(AUTOGROUP.read_text())"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True, start_new_session=True
    )
    assert result.stdout.split()[-2:] == ["nice", "5"]


@pytest.mark.parametrize("nice", [-1, 20])
def test_a_nice_outside_0_to_19_is_refused(nice: int):
    with pytest.raises(ValueError, match="nice"):
        LLMSettings(model_path="m.gguf", nice=nice)
