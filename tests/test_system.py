import os
import sys
from pathlib import Path

import pytest

from bilight.system import write_atomically


def test_writes_text_and_bytes_into_new_folders_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a" / "b.json", '{"x": "é"}')
    write_atomically(tmp_path / "a" / "c.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b.json").read_bytes() == '{"x": "é"}'.encode()
    assert (tmp_path / "a" / "c.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.json", "c.bin"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.json"
    write_atomically(target, "old")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # the temporary file is removed too


def test_the_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "f.txt", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_release_free_memory_hands_freed_heap_pages_back() -> None:
    from bilight.system import release_free_memory

    def resident_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    blocks = [bytearray(2000) for _ in range(60_000)]  # ~120 MB of small heap blocks
    kept = blocks[::50]  # a few survivors pin the heap, so free() alone cannot shrink it
    del blocks
    before = resident_mb()
    release_free_memory()
    assert resident_mb() < before - 50
    assert len(kept) == 1200
