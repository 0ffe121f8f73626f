"""FileWatch: read once, again only when a file changes; a broken new file keeps the last good value."""

import os
import threading

import pytest

from cineseq_assets.reloading import FileWatch


def _touch(path, text: str, step: int) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + step * 1_000_000_000))  # a later modification time


def _counting_reader(path):
    reads = []

    def load(files):
        reads.append(files)
        text = files[0].read_text()
        if not text.isdigit():
            raise ValueError(f"not a number: {text!r}")
        return int(text)

    return FileWatch(lambda: (path,), load), reads


def test_reads_again_only_when_the_file_changes(tmp_path):
    path = tmp_path / "value.txt"
    _touch(path, "1", 0)
    watch, reads = _counting_reader(path)
    assert watch.get() == 1 and watch.get() == 1 and len(reads) == 1
    _touch(path, "22", 1)
    assert watch.get() == 22 and len(reads) == 2 and watch.error is None


def test_a_broken_new_file_keeps_the_last_good_value_until_a_good_one_arrives(tmp_path):
    path = tmp_path / "value.txt"
    _touch(path, "1", 0)
    watch, reads = _counting_reader(path)
    assert watch.get() == 1
    _touch(path, "oops", 1)
    assert watch.get() == 1 and "value.txt" in watch.error and "not a number" in watch.error
    assert watch.get() == 1 and len(reads) == 2  # the broken file is not read again until it changes
    _touch(path, "3", 2)
    assert watch.get() == 3 and watch.error is None


def test_without_a_good_value_the_error_is_raised(tmp_path):
    watch, _ = _counting_reader(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError):
        watch.get()


def test_threads_share_one_read(tmp_path):
    path = tmp_path / "value.txt"
    _touch(path, "7", 0)
    watch, reads = _counting_reader(path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(watch.get())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [7] * 8 and len(reads) == 1
