"""What bilight asks of the operating system: a file written whole or not at all, the process's peak memory, and
freed heap memory handed back.

This module imports nothing heavy, so the benchmarks' peer sides (TRL) can report their memory with
the same function as bilight's runs without paying for bilight's imports.

`write_atomically` writes a temporary file beside the target, then renames it, so a reader sees the old
file or the new one, never a truncated results file, metrics log or cache entry. An exception (a full
disk) removes the temporary file; a kill can leave it, hidden (``.<name>.<pid>-<thread>.tmp``). The
name carries the process and thread, so two writers of one path (cells of an experiment building the
same cache entry at once) never share a temporary file; the last rename wins, and both wrote the same
content. It is opened the ordinary way, so the file gets the usual permissions (``mkstemp`` would
make it owner-only).

`release_free_memory` asks glibc to return the free pages of its heap (``malloc_trim(0)``). Building a
20,000-prompt split creates and drops millions of small objects; the memory is free afterwards but stays
resident, since glibc keeps freed heap pages for reuse: 0.30 GB on this machine for the GRPO ``rl`` split,
of which ``malloc_trim`` returned 0.21 GB. A no-op where glibc is absent (macOS, Windows, musl).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

__all__ = ["peak_rss_gb", "release_free_memory", "write_atomically"]


def write_atomically(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename; creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def peak_rss_gb() -> float | None:
    """Peak resident memory of this process so far in GiB (``ru_maxrss``: KiB on Linux, bytes on macOS); None on Windows."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024**3 if sys.platform == "darwin" else 1024**2), 3)


def release_free_memory() -> bool:
    """Return glibc's free heap pages to the operating system (``malloc_trim(0)``); True if glibc did so."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # no glibc (musl) or no malloc_trim
        return False
