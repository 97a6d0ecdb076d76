"""kernels.native_build: one build, direct loads after it, and no wait on a dead process's lock.

A tiny C extension (Python.h only, compiles in about a second) stands in for the real kernels.
Each test has a timeout: the bug these guard against is a wait that never ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernels import native_build
from kernels.native_build import BuildLockTimeout, build_lock, build_or_load

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CXX", "c++")) is None, reason="no C++ compiler"
)

SOURCE = textwrap.dedent(
    """
    #include <Python.h>
    #define STR2(x) #x
    #define STR(x) STR2(x)
    #define CAT2(a, b) a##b
    #define CAT(a, b) CAT2(a, b)
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, STR(TORCH_EXTENSION_NAME), NULL, -1};
    PyMODINIT_FUNC CAT(PyInit_, TORCH_EXTENSION_NAME)(void) {
      PyObject* m = PyModule_Create(&def);
      if (m) PyModule_AddIntConstant(m, "answer", 42);
      return m;
    }
    """
)


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "tiny.cpp"
    src.write_text(SOURCE)
    return src


def _hold_lock(build: Path) -> subprocess.Popen[str]:
    """A child process that takes the build lock, says so, and sleeps until killed."""
    code = (
        "import sys, time; from pathlib import Path; from kernels.native_build import build_lock\n"
        f"with build_lock(Path({str(build)!r}), 5):\n"
        "    print('held', flush=True); time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


@pytest.mark.timeout(180)
def test_stale_torch_lock_file_does_not_block_the_build(tmp_path: Path) -> None:
    """A `lock` file left by a killed process (torch's baton) is cleared by the lock holder."""
    build = tmp_path / "build"
    build.mkdir()
    (build / native_build.TORCH_LOCK).touch()
    module = build_or_load("ss_tiny_a", [_source(tmp_path)], ["-O0"], [], build)
    assert module.answer == 42
    assert (build / native_build.STAMP).read_text().strip() == "ss_tiny_a"
    assert not (build / native_build.TORCH_LOCK).exists()


@pytest.mark.timeout(180)
def test_a_stamped_build_loads_without_torch_or_its_lock(tmp_path: Path) -> None:
    """After one build, a new process imports the library directly, even with a stale lock."""
    build = tmp_path / "build"
    build_or_load("ss_tiny_b", [_source(tmp_path)], ["-O0"], [], build)
    (build / native_build.TORCH_LOCK).touch()  # would make torch's loader wait forever
    code = (
        "import sys; from pathlib import Path; import torch.utils.cpp_extension as ce\n"
        "ce.load = None  # a call would raise TypeError\n"
        "from kernels.native_build import build_or_load\n"
        f"m = build_or_load('ss_tiny_b', [], [], [], Path({str(build)!r}))\n"
        "print(m.answer)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "42"


@pytest.mark.timeout(60)
def test_the_lock_of_a_killed_holder_is_free_at_once(tmp_path: Path) -> None:
    """flock dies with its holder: SIGKILL mid-build leaves nothing to wait on."""
    child = _hold_lock(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with build_lock(tmp_path, wait_s=5):
        pass


@pytest.mark.timeout(60)
def test_waiting_for_a_live_holder_is_bounded(tmp_path: Path) -> None:
    """A builder that never finishes makes others fail after wait_s, not wait forever."""
    child = _hold_lock(tmp_path)
    try:
        with (
            pytest.raises(BuildLockTimeout, match="held by another process"),
            build_lock(tmp_path, wait_s=0.5),
        ):
            pass
    finally:
        child.kill()
        child.wait(timeout=30)
