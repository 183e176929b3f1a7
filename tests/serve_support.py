"""Helpers for tests that run `idproof serve` as a real process: ports, waits, process state."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, check: Callable[[], object], timeout: float = 60.0) -> object:
    """`check()`'s first truthy value, polled every 0.1 s; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait() is missing


def wait_ready(base: str, serve: subprocess.Popen[bytes]) -> None:
    def ready() -> bool:
        if serve.poll() is not None:
            pytest.fail(f"serve exited with {serve.returncode}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    until("the server", ready)


def kill_hard(serve: subprocess.Popen[bytes]) -> None:
    if serve.poll() is None:
        serve.kill()
        serve.wait(10)


def children(pid: int) -> dict[int, list[bytes]]:
    """The live child processes of `pid` (of any of its threads), with their command lines."""
    found: dict[int, list[bytes]] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # gone (ENOENT, or ESRCH for a task just ended)
        return found
    for task in tasks:
        try:  # a thread may end between the listing and this read
            listed = (task / "children").read_text().split()
        except OSError:
            continue
        for child in listed:
            try:
                found[int(child)] = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            except OSError:  # ended meanwhile
                continue
    return found
