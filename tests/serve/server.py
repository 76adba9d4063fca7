"""A real `deepatoms serve` for the browser test: started on a free loopback port, its URL read
from its first line, stopped by its PID."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import deepatoms

SRC = str(Path(deepatoms.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, store: Path, *extra: str):
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=SRC, OMP_NUM_THREADS="1", COLUMNS="300")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deepatoms", "serve", "--store", str(store), "--port",
             str(self.port), "--workers", "1", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.first_line = self.process.stdout.readline()
        self.url = f"http://127.0.0.1:{self.port}/"
        self._wait()

    def _wait(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.first_line}{self.process.stdout.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("serve did not start listening")

    def stop(self) -> int:
        os.kill(self.process.pid, signal.SIGINT)  # Ctrl-C
        try:
            self.output = self.process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.output = self.process.communicate(timeout=5)[0]
        return self.process.returncode
