"""A real `chroma run` subprocess for the server-mode and fault tests, and the `chroma_url` fixture.

CI (.ci/run) starts one server and exports NEWSBOT_TEST_CHROMA_URL; tests that
only need *a* server use it. Where the variable is unset (a laptop), the
fixture starts its own `chroma run` from the venv if it is installed and skips
with a reason otherwise. Tests that stop and restart a server always start
their own, so they never disturb the shared one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ENV = "NEWSBOT_TEST_CHROMA_URL"


def chroma_executable() -> str | None:
    beside = Path(sys.executable).with_name("chroma")
    return str(beside) if beside.exists() else shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def heartbeat(url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{url}/api/v2/heartbeat", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class ChromaServer:
    """`chroma run --path PATH --host 127.0.0.1 --port PORT`, startable and stoppable on the same port and path."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        exe = chroma_executable()
        if exe is None:
            pytest.skip("the `chroma` executable (from the chromadb package) is not installed")
        self.exe = exe
        self.path = path
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, wait_s: float = 60.0) -> ChromaServer:
        log = open(self.path.parent / f"chroma-{self.port}.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [self.exe, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if heartbeat(self.url):
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}; see {log.name}")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not answer at {self.url} within {wait_s:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running Chroma server: CI's (NEWSBOT_TEST_CHROMA_URL) or one started for this session."""
    url = os.environ.get(ENV)
    if url:
        if not heartbeat(url, timeout=5):
            pytest.fail(f"{ENV}={url} does not answer its heartbeat")
        yield url
        return
    if chroma_executable() is None:
        pytest.skip(f"no Chroma server: set {ENV} or install chromadb (its `chroma` command)")
    base = tmp_path_factory.mktemp("chroma-server")
    server = ChromaServer(base / "data").start()
    try:
        yield server.url
    finally:
        server.stop()


def collection_name(prefix: str = "test") -> str:
    """A fresh collection per test, so tests sharing one server never see each other's chunks."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
