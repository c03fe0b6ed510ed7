"""One ``alflow label`` per session folder: an OS lock on ``<label.session_dir>/session.lock``.

``hold_session(session_dir)`` takes an exclusive ``fcntl.flock`` on the lock file without waiting and
writes the holder's pid, host and start time into it (JSON, one line), so a second process can say who
holds the folder. The kernel drops the lock when the holder's file is closed, which a process's end
does whatever the end (Ctrl-C, SIGTERM, SIGKILL, a crash): a killed holder leaves the file but never the
lock, and the next session takes it (a forked child, e.g. a data-loader worker, shares the lock
until it ends too; a program it execs does not inherit it). The file itself is never removed (removing it would let two
processes lock two different files).

Raises ``SessionBusy`` (a ValueError: the entry point prints it in one line, exit status 2) naming the
folder (as ``label.session_dir=...``) and the holder's pid and host when another process holds it;
OSError when the folder cannot be created or the file opened. Linux and macOS (``fcntl``); on NFS the
lock is as good as the mount's lock support.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

LOCK_FILE = "session.lock"


class SessionBusy(ValueError):
    """Another process holds the session folder's lock."""


class SessionLock:
    """The held lock on ``path``; ``release()`` (or leaving a ``with`` block) lets the next session take it."""

    def __init__(self, path: Path, file):
        self.path, self._file = path, file

    def release(self) -> None:
        if self._file is not None and not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
        self._file = None

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def hold_session(session_dir: str | os.PathLike) -> SessionLock:
    """Lock ``session_dir`` (created if missing) for this process, or SessionBusy at once if another holds it."""
    folder = Path(session_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for as long as the lock is held
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = _describe(file.read())
        file.close()
        raise SessionBusy(f"label.session_dir={session_dir} is in use by another alflow label ({holder}): stop "
                          "that one (Ctrl-C) or choose another label.session_dir") from None
    except BaseException:
        file.close()
        raise
    file.seek(0)
    file.truncate()
    file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
    file.flush()
    return SessionLock(path, file)


def _describe(text: str) -> str:
    """The holder as the lock file names it; a file being written at that moment names nobody yet."""
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "pid not written yet"
