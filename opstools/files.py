"""Writing the ops tools' output files: all or nothing, and on disk once reported.

One way for every tool, the safest of the ones they had: the data goes to a temporary
file in the same directory (so the rename cannot cross file systems), is flushed and
fsynced, renamed over the target with ``os.replace`` (atomic on POSIX: a reader sees the
old file or the new one, never half of one), and the directory is fsynced so that the
rename itself survives a power cut. A failure removes the temporary file and leaves the
previous version untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

#: Public outputs (results, reports) are for reading; the full export keeps 0600
#: because it holds the network and User-Agent hashes.
PUBLIC = 0o644
PRIVATE = 0o600


@contextmanager
def atomic_writer(path: Path, mode: int = PUBLIC) -> Iterator[IO[bytes]]:
    """A binary file that replaces ``path`` only if the ``with`` block completes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp creates 0600 whatever the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes | str, mode: int = PUBLIC) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), all or nothing."""
    with atomic_writer(path, mode) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
