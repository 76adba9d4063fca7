"""The `deepatoms` entry point: every way a command can end, as one line and an exit code.

The typer app runs with `standalone_mode=False`, so click's usage errors (unknown option,
missing argument, bad value) reach us instead of being drawn as a boxed panel, and become one
line `error: ... (see 'deepatoms run -h')` with exit code 2, like every DeepatomsError.
Ctrl-C and SIGTERM end with exit code 130 / 143 and one line (`deepatoms run` says how many
batches were stored; see interrupts.py). A bug still shows its traceback (exit code 1).
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Sequence

from . import interrupts
from ..errors import DeepatomsError

# options whose value is a path: an empty value would silently mean the current directory
PATH_OPTIONS = ("--store", "--out")


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def error(message: str) -> None:
    """`error: message` on stderr, on one line."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


def check_empty_paths(args: Sequence[str]) -> None:
    """`--store ""` or `--out=` is refused (a path option needs a directory)."""
    for i, arg in enumerate(args):
        for option in PATH_OPTIONS:
            value = None
            if arg == option and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(option + "="):
                value = arg[len(option) + 1:]
            if value is not None and not value.strip():
                raise DeepatomsError(f"{option} needs a directory, got an empty value")


def _usage_message(exc: BaseException) -> str:
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
    return f"{message}{hint}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our warnings (slow runs) as one line `warning: ...`; others as Python prints them."""
    if getattr(category, "__module__", "").startswith("deepatoms"):
        sys.stderr.write(f"warning: {one_line(message)}\n")
    else:
        _ORIGINAL_SHOW(message, category, filename, lineno, file, line)


_ORIGINAL_SHOW = warnings.showwarning


def _click():
    """click's exceptions: typer ≥ 0.20 vendors click as `typer._click` (Abort in typer's own
    exceptions); older typer uses click itself."""
    import types
    try:
        from typer._click import exceptions
        from typer.exceptions import Abort
    except ImportError:
        from click import exceptions
        from click.exceptions import Abort
    return types.SimpleNamespace(Abort=Abort, UsageError=exceptions.UsageError,
                                 ClickException=exceptions.ClickException,
                                 NoArgsIsHelpError=exceptions.NoArgsIsHelpError)


def main(args: Sequence[str] | None = None, prog_name: str = "deepatoms") -> int:
    """Run the command line on `args` (default sys.argv[1:]); return the exit code."""
    click = _click()
    args = list(sys.argv[1:] if args is None else args)
    warnings.showwarning = _show_warning
    with interrupts.catch_signals() as state:
        try:
            check_empty_paths(args)
            from .app import app
            command = __import__("typer").main.get_command(app)
            code = command.main(args=args, prog_name=prog_name, standalone_mode=False)
            code = code if isinstance(code, int) else 0
        except click.NoArgsIsHelpError as exc:  # the help is already printed
            return exc.exit_code
        except click.UsageError as exc:
            error(_usage_message(exc))
            return 2
        except click.ClickException as exc:
            error(exc.format_message())
            return exc.exit_code
        except DeepatomsError as exc:
            error(str(exc) or type(exc).__name__)
            return 2
        except Exception as exc:  # a full disk is one line; a bug keeps its traceback
            from .app import disk_full
            if disk_full(exc) is None:
                raise
            error(str(disk_full(exc)))
            return 2
        except (KeyboardInterrupt, click.Abort):
            state.signal = state.signal or 2
            code = interrupts.SIGINT_EXIT
        finally:
            warnings.showwarning = _ORIGINAL_SHOW
    if state.signal is not None:
        interrupts.stop_workers()
        if not state.reported:
            sys.stderr.write("interrupted\n")
        return 128 + int(state.signal)
    return code


def entry() -> None:
    """The console script: `sys.exit(main())`. After Ctrl-C or SIGTERM it exits at once
    (os._exit once the output is flushed): everything worth keeping is committed, and the
    interpreter's teardown with torch loaded takes seconds on a busy machine."""
    code = main()
    if interrupts.state.signal is not None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
