"""Build-once, load-many for the native C++ extension, safe against processes killed mid-load.

`torch.utils.cpp_extension.load` guards its build folder with a lock *file* (`<build>/lock`,
created with O_EXCL, removed when done) and takes it on every call, even when nothing needs
building. A process killed in that window (an engine stopped by SIGKILL while it starts) leaves
the file behind, and every later process waits on it forever. Here:

* a finished build is marked by a stamp written after a successful build; later processes import
  the library directly, without torch's lock or ninja;
* a build runs under an advisory `flock` on `<build>/build.flock`, which the kernel releases
  when its holder dies; whoever holds it removes torch's lock file first (any such file is stale:
  every builder holds the flock);
* waiting for another builder is bounded (`wait_s`): past it the build counts as failed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib.util
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

STAMP = "built"
FLOCK = "build.flock"
TORCH_LOCK = "lock"


class BuildLockTimeout(TimeoutError):
    """Another process held the build lock for longer than the wait allowed."""


@contextlib.contextmanager
def build_lock(build: Path, wait_s: float, poll_s: float = 0.2) -> Iterator[None]:
    """Hold an exclusive `flock` on `build/build.flock` (released by the kernel if we die).

    Raises:
        BuildLockTimeout: still held by another process after `wait_s` seconds.
    """
    fd = os.open(build / FLOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise BuildLockTimeout(
                        f"{build / FLOCK} held by another process for over {wait_s:.0f} s"
                    ) from exc
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def import_library(name: str, library: Path) -> ModuleType:
    """Import a built Python extension module (`PyInit_<name>`) from its shared library."""
    spec = importlib.util.spec_from_file_location(name, library)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {library} as {name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _built(build: Path, name: str) -> Path | None:
    """The library when a finished build of `name` is stamped in `build`, else None."""
    library = build / f"{name}.so"
    stamp = build / STAMP
    if stamp.is_file() and stamp.read_text().strip() == name and library.is_file():
        return library
    return None


def _stamp(build: Path, name: str) -> None:
    tmp = build / f"{STAMP}.{os.getpid()}.tmp"
    tmp.write_text(name + "\n")
    tmp.replace(build / STAMP)


def build_or_load(
    name: str,
    sources: Sequence[Path],
    cflags: Sequence[str],
    ldflags: Sequence[str],
    build: Path,
    wait_s: float = 900.0,
) -> ModuleType:
    """The extension `name`, built into `build` once (by whichever process gets there first).

    Args:
        name: module name; `build` must be specific to the sources and flags (a content hash).
        sources: C++ sources.
        cflags / ldflags: extra compiler / linker flags.
        build: the build folder (created if missing).
        wait_s: longest wait for another process's build (one build takes 1-2 min).

    Raises:
        BuildLockTimeout: another build held the lock past `wait_s`.
        RuntimeError / OSError / ImportError: the build or the import failed.
    """
    build.mkdir(parents=True, exist_ok=True)
    library = _built(build, name)
    if library is not None:
        return import_library(name, library)
    with build_lock(build, wait_s):
        library = _built(build, name)  # built by the process we waited for
        if library is not None:
            return import_library(name, library)
        (build / TORCH_LOCK).unlink(missing_ok=True)  # stale: every builder holds our flock
        from torch.utils import cpp_extension

        module = cpp_extension.load(
            name=name,
            sources=[str(s) for s in sources],
            extra_cflags=list(cflags),
            extra_ldflags=list(ldflags),
            build_directory=str(build),
            verbose=False,
        )
        _stamp(build, name)
        return module
