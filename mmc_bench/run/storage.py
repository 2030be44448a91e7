"""Writing a run's files safely: atomic replaces, one-sentence disk errors, and an OS lock per run folder."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from mmc_bench.errors import UserError

# A run folder's result; written last, so its presence with status completed means the run is whole.
METRICS_FILE = "metrics.json"

LOCK_FILE = ".lock"


def write_failure_message(what: str, folder: Path, cause: BaseException) -> str:
    reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
    free = _free_bytes(folder)
    if free is not None and free < LOW_SPACE_BYTES and "space" not in reason.lower():
        reason = f"No space left on device: {free} bytes free; {reason}"
    return (
        f"could not write {what} in {folder} ({reason}); free disk space or choose another folder with "
        "hydra.run.dir / hydra.sweep.dir, then run the same command again (it continues from the last checkpoint)"
    )


class OutputWriteError(UserError):
    """A result, prediction or checkpoint could not be written (full disk, vanished or read-only folder)."""

    def __init__(self, path: Path, cause: BaseException):
        self.path = path
        super().__init__(write_failure_message(path.name, path.parent, cause))


# torch.save reports a full disk as a RuntimeError of its zip writer ("PytorchStreamWriter failed writing
# file", or "[enforce fail at inline_container.cc] unexpected pos"), not as an OSError.
TORCH_WRITER_ERRORS = ("PytorchStreamWriter", "inline_container")
LOW_SPACE_BYTES = 1 << 20


def _looks_like_a_write_failure(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or (
        isinstance(exc, RuntimeError) and any(marker in str(exc) for marker in TORCH_WRITER_ERRORS)
    )


def _free_bytes(folder: Path) -> int | None:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """``write(handle)`` into a temporary file beside ``path``, fsync it, then rename it over ``path``.

    A reader sees the previous file or the new one, never half of one; on failure the temporary file is
    removed, the previous file (if any) is left as it was, and OutputWriteError names the file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if _looks_like_a_write_failure(exc):
            raise OutputWriteError(path, exc) from None
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode()))


def write_json_atomic(path: Path, record: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(record, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def file_sha256(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


class FolderInUse(UserError):
    """Another live process holds the run folder's lock."""


@contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold an exclusive OS lock (flock) on ``run_dir/.lock`` for the duration of a run.

    The lock goes with the process: a run killed by SIGKILL releases it, so a stale lock file never blocks
    the next run. The file records who holds it, for the refusal message of a second run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderInUse(
                f"{run_dir} is in use by another run ({holder}); wait for it to finish, or give this run "
                "its own folder with hydra.run.dir=DIR (hydra.sweep.dir for a sweep)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock
