"""The training lease: one writer per workdir."""

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Mapping

from genmodels.workdir.layout import (LEASE, WorkdirError, is_remote, path, write_text_atomic)

log = logging.getLogger(__name__)

LEASE_TIMEOUT_S = 300.0  # A lease whose heartbeat is older than this is stale.
HEARTBEAT_S = 30.0  # How often the holder refreshes its heartbeat.


class LeaseError(WorkdirError):
    """Another live process holds W's lease, or this process lost it."""


def read_lease(workdir) -> dict | None:
    """W/lease.json, or None if there is none; {} if it is unreadable."""
    p = path(workdir) / LEASE
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, OSError):
        return {} if p.exists() else None


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_staleness(lease: Mapping, now: float | None = None) -> str | None:
    """Why `lease` is stale (its pid is dead on this host, or its heartbeat is older than
    LEASE_TIMEOUT_S, or it is unreadable), or None if its holder may be alive."""
    try:
        host, pid, heartbeat = lease["host"], int(lease["pid"]), float(lease["heartbeat"])
    except (KeyError, TypeError, ValueError):
        return "the lease file is unreadable"
    if host == socket.gethostname() and not _pid_running(pid):
        return f"pid {pid} is not running on this host"
    age = (time.time() if now is None else now) - heartbeat
    if age > LEASE_TIMEOUT_S:
        return f"its last heartbeat was {age:.0f} s ago (timeout {LEASE_TIMEOUT_S:.0f} s)"
    return None


def _describe(lease: Mapping) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.get("started", 0)))
    return (f"pid {lease.get('pid')} on host {lease.get('host')} (started {started}, last "
            f"heartbeat {time.time() - lease.get('heartbeat', 0):.0f} s ago)")


class Lease:
    """W/lease.json: {"host", "pid", "started", "heartbeat", "token"}, held by the one process
    that trains W. A daemon thread refreshes the heartbeat every HEARTBEAT_S seconds.

    Locally the file is created with a hard link (atomic, fails if it exists); on object stores
    it is written and read back (best effort: two writers racing within one request both see
    their own token only if the store reorders their writes)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.path = path(workdir) / LEASE
        self.token = uuid.uuid4().hex
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = None
        self.record = None

    def _text(self) -> str:
        now = time.time()
        self.record = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                       "started": (self.record or {}).get("started", now), "heartbeat": now}
        return json.dumps(self.record, sort_keys=True)

    def _refuse(self, holder: Mapping):
        raise LeaseError(
            f"{self.workdir} is being trained by {_describe(holder)}: one training run writes "
            "a workdir at a time. Wait for it to finish or stop it. A lease left by a killed "
            f"job on another host expires {LEASE_TIMEOUT_S:.0f} s after its last heartbeat; "
            f"delete {self.path} if you are sure that job is gone.")

    def _create(self) -> bool:
        """Writes the lease if there is none; False if another process has one."""
        tmp = self.path.parent / f"{LEASE}.{self.token}.tmp"
        tmp.write_text(self._text())
        if is_remote(self.path):
            if self.path.exists():
                tmp.unlink()
                return False
            tmp.replace(self.path)
            return (read_lease(self.workdir) or {}).get("token") == self.token
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def acquire(self) -> "Lease":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            holder = read_lease(self.workdir)
            if holder is not None:
                stale = lease_staleness(holder)
                if stale is None:
                    self._refuse(holder)
                log.warning("Taking over the stale lease of %s: %s.", self.workdir, stale)
                self.path.unlink(missing_ok=True)
            if self._create():
                break
        else:
            self._refuse(read_lease(self.workdir) or {})
        self._thread = threading.Thread(target=self._beat, daemon=True, name="workdir-lease")
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            holder = read_lease(self.workdir) or {}
            if holder.get("token") != self.token:
                self.lost = (f"Lost the lease of {self.workdir}: it is now held by "
                             f"{_describe(holder)}. This run stopped so that only one process "
                             "writes the workdir.")
                return
            write_text_atomic(self.path, self._text(), f".{self.token}.tmp")

    def check(self) -> None:
        """Raises LeaseError if another process took the lease over."""
        if self.lost:
            raise LeaseError(self.lost)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if (read_lease(self.workdir) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
