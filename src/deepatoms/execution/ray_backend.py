"""`--backend ray`: trials as Ray tasks (the optional `ray` extra: pip install 'deepatoms[ray]').

Without `--address` the driver starts a private local cluster (`address="local"`, never a
cluster found on the machine: a head killed by a signal leaves a stale cluster file behind),
on loopback only (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: otherwise Ray 2.60 binds every
interface even with node IP 127.0.0.1), with token authentication on and a token private to
this process. With `--address HOST:PORT` it connects to that cluster (its token comes from
RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, as Ray reads it) and ships this
package with `runtime_env` `py_modules`, so the workers run the driver's code.

Each task asks for `threads` CPUs (and one GPU for a CUDA trial), sets its torch threads,
checks its code version against the driver's (executors.checked_trial) and returns the
per-seed tables; results stream back in completion order and only the driver writes the
store. A task whose worker dies is retried (`max_retries`); a first torch task costs ≈ 8–10 s
of worker start-up.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .executors import ExecutorError, checked_trial, default_workers, set_threads
from .trials import Trial, TrialFailure, TrialResult

if TYPE_CHECKING:
    from .executors import ExecOptions

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MAX_RETRIES = 2  # a task whose worker process dies runs again (then the run fails, one line)
LOCAL = "local"
CONNECT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 5.0
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type 4, flags 0, stream 0
HTTP2_SETTINGS = 0x04


def _ray(loopback: bool) -> Any:
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")  # Ray's C++ warnings on stderr
    if loopback:  # read when Ray is imported; else Ray swaps 127.0.0.1 for the machine's IP
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    try:
        import ray
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise ExecutorError("--backend ray needs Ray: pip install 'deepatoms[ray]'") from None
    if loopback:
        from ray._private import ray_constants
        ray_constants.ENABLE_RAY_CLUSTER = False
    return ray


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ExecutorError(f"--address must be HOST:PORT (the Ray head's GCS port), got "
                            f"{address!r}")
    return host.strip("[]"), int(port)


def _reachable(address: str) -> None:
    """A refused or unreachable head, or a port where no gRPC server (the head's GCS) answers,
    is one line within seconds (Ray itself retries for minutes)."""
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as conn:
            speaks = _speaks_grpc(conn)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExecutorError(f"cannot connect to the Ray cluster at {address} ({reason}); "
                            "is its head running (`ray start --head`)?") from None
    if not speaks:
        raise ExecutorError(f"no Ray head answers at {address} (the port is open but does not "
                            f"speak gRPC within {ANSWER_TIMEOUT_S:g} s); give the head's GCS "
                            "port (`ray start --head` prints it, 6379 by default)")


def _speaks_grpc(conn: socket.socket) -> bool:
    """Whether the server behind `conn` answers an HTTP/2 greeting with its SETTINGS frame,
    as every gRPC server (Ray's GCS among them) does at once."""
    conn.settimeout(ANSWER_TIMEOUT_S)
    conn.sendall(HTTP2_PREFACE + HTTP2_EMPTY_SETTINGS)
    header = b""
    try:
        while len(header) < 9:
            chunk = conn.recv(9 - len(header))
            if not chunk:
                return False
            header += chunk
    except (socket.timeout, ConnectionError):
        return False
    return header[3] == HTTP2_SETTINGS


def _is_loopback(address: str | None) -> bool:
    return address is None or _host_port(address)[0] in ("127.0.0.1", "localhost", "::1")


def ray_trial(trial: Trial, threads: int, settle: bool = False) -> TrialResult | TrialFailure:
    """The body of one Ray task (module level: workers import it from the shipped package)."""
    set_threads(threads)
    return checked_trial(trial, settle)


def _refresh_auth_mode() -> None:
    try:  # Ray read RAY_AUTH_MODE and the token when imported: let this process see them now
        from ray._raylet import AuthenticationTokenLoader, Config
        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):
        pass


def _cluster_token_env() -> None:
    """Connecting by address: send the token when there is one (Ray 2.60 clusters require it
    by default, but a driver only sends it in token mode)."""
    has_token = (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                 or (Path.home() / ".ray" / "auth_token").is_file())
    if has_token and "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
    _refresh_auth_mode()


def _private_cluster_env() -> None:
    """Loopback only and token auth with a fresh token, unless the user set them."""
    if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    _refresh_auth_mode()


def _notices_to_stderr() -> None:
    """Ray prints its error notices ("a worker died ...") on the driver's stdout, where the
    command's results go (`--json`): send them to stderr."""
    try:
        from ray._private import worker
        original = worker.print_to_stdstream
    except (ImportError, AttributeError):
        return
    if getattr(original, "deepatoms", False):
        return

    def to_stderr(data: dict, ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)

    to_stderr.deepatoms = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _connect(ray: Any, address: str | None, cpus: int) -> None:
    common = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                  logging_level=logging.ERROR)
    _notices_to_stderr()
    try:
        if address is None:
            _private_cluster_env()
            ray.init(address=LOCAL, num_cpus=cpus, _node_ip_address="127.0.0.1", **common)
        else:
            _reachable(address)
            _cluster_token_env()
            package = str(PACKAGE_DIR)  # deepatoms/, shipped to the cluster's workers
            ray.init(address=address, runtime_env={"py_modules": [package]}, **common)
    except ExecutorError:
        raise
    except Exception as exc:  # refused, unreachable, authentication: one line
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        hint = ("; check its token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
                if address else "")
        raise ExecutorError(f"cannot connect to {where} ({type(exc).__name__}: {text}){hint}"
                            ) from None


class RayExecutor:
    """Trials as Ray tasks on the cluster this process is connected to."""

    def __init__(self, address: str | None, threads: int, cpus: int):
        self.ray = _ray(_is_loopback(address))
        self.address, self.threads = address, threads
        if not self.ray.is_initialized():
            _connect(self.ray, address, cpus)

    def map(self, trials: Sequence[Trial], settle: bool = False
            ) -> Iterator[TrialResult | TrialFailure]:
        ray = self.ray
        task = ray.remote(ray_trial)
        refs = [task.options(num_cpus=self.threads, max_retries=MAX_RETRIES,
                             num_gpus=1 if t.device.startswith("cuda") else 0,
                             name=f"deepatoms:{t.atom}").remote(t, self.threads, settle)
                for t in trials]
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield self._get(ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def _get(self, ref: Any) -> TrialResult:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, ExecutorError):
                raise ExecutorError(str(cause)) from None
            if isinstance(cause, Exception):
                raise cause from None
            raise
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise ExecutorError(f"a Ray worker died (after {MAX_RETRIES} retries): "
                                f"{type(exc).__name__}; finished trials are stored: run "
                                "again to resume") from None

    def close(self) -> None:
        if self.ray.is_initialized():
            self.ray.shutdown()


_EXECUTORS: dict[tuple[str | None, int], RayExecutor] = {}


def ray_executor(options: "ExecOptions") -> RayExecutor:
    """The process's connection for these options (one cluster at a time)."""
    key = (options.address, options.threads or 1)
    if key not in _EXECUTORS:
        for other in list(_EXECUTORS):
            _EXECUTORS.pop(other).close()
        workers = options.workers or default_workers()
        _EXECUTORS[key] = RayExecutor(options.address, options.threads or 1,
                                      workers * (options.threads or 1))
    return _EXECUTORS[key]


def shutdown() -> None:
    """Disconnect (and stop a private cluster this process started)."""
    for executor in _EXECUTORS.values():
        executor.close()
    _EXECUTORS.clear()
