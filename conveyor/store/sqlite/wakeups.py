"""SQLite: wake-ups across processes on one machine, so a worker in another process starts a new
job within about a millisecond instead of at its next poll (10 ms).

Each process whose store registers a worker binds one Unix datagram socket (Linux: an abstract
address, nothing on disk) and records its address in the worker's row, with the hostname. After an
enqueue commits, the store sends the queue's name to every live worker on this host that serves it
(addresses cached for ADDRESS_TTL seconds, so a burst of enqueues costs one lookup). A datagram is
only a hint: a lost one, a full socket buffer, a worker on another host or a worker started less
than ADDRESS_TTL ago is found by the worker's short poll, as before.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable

log = logging.getLogger("conveyor.store")

ADDRESS_TTL = 1.0  # seconds an enqueuing process reuses the addresses it looked up for a queue
ABSTRACT = sys.platform.startswith("linux")  # abstract socket addresses: no file to clean up


def _os_address(address: str) -> str:
    return "\0" + address[1:] if address.startswith("@") else address


class WakeSocket:
    """The datagram socket a worker process is woken through; `on_queue(name)` for each datagram."""

    def __init__(self, on_queue: Callable[[str], None]) -> None:
        name = f"conveyor-wake-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.address = f"@{name}" if ABSTRACT else os.path.join(tempfile.gettempdir(), f"{name}.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(_os_address(self.address))
        self._sock.settimeout(1.0)  # the reader notices close() within a second at worst
        self._on_queue = on_queue
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="conveyor-wake-socket", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(1024)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            if data:
                try:
                    self._on_queue(data.decode(errors="replace"))
                except Exception as exc:  # a failing callback must not stop the wake-ups
                    log.warning("wake-up callback failed: %s", exc)

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass
        if not ABSTRACT:
            try:
                os.unlink(self.address)
            except OSError:
                pass


class WakeSender:
    """Sends a queue's name to the wake sockets of the live workers serving it."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._addresses: dict[str, tuple[float, list[str]]] = {}  # queue -> (looked up at, addresses)
        self._lock = threading.Lock()
        self.own: str | None = None  # this process's own socket: woken in-process already

    def send(self, queues: Iterable[str], lookup: Callable[[str], list[str]]) -> None:
        now = time.monotonic()
        for queue in queues:
            cached = self._addresses.get(queue)
            if cached is None or now - cached[0] > ADDRESS_TTL:
                try:
                    cached = (now, [a for a in lookup(queue) if a != self.own])
                except Exception as exc:  # the poll finds the job: never fail an enqueue for this
                    log.debug("wake-up address lookup failed: %s", exc)
                    continue
                self._addresses[queue] = cached
            if cached[1]:
                self._send(queue.encode(), cached[1])

    def _send(self, data: bytes, addresses: list[str]) -> None:
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            for address in addresses:
                try:
                    self._sock.sendto(data, _os_address(address))
                except OSError:
                    pass  # gone, or its buffer is full (then it is awake anyway)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
