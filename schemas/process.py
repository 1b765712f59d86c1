"""How every command-line entry point ends: `run_cli(main)`.

A process that has read Parquet holds Arrow's ThreadPool workers (`std::thread`s; gdb at the
end of a finished run shows 3 of them beside Arrow's jemalloc thread and the OpenBLAS/OpenMP/
torch pthreads). Arrow tears those pools down in C++ static destructors after the interpreter
has finalised, and under CPU contention a worker can still be joinable there: `terminate
called without an active exception`, SIGABRT (apache/arrow#34314, #39862). A finished corpus,
report or evaluation then reads as a failed command. Arrow offers no call that stops its pools
(capacity cannot go below 1), so our CLIs never run those destructors: after `main` returns or
raises, Python's atexit handlers (logging's shutdown among them) run, the output streams are
flushed and the process ends with `os._exit`. Exit codes follow `sys.exit`'s rules, and an
uncaught exception still prints its traceback and exits 1.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def exit_code(exc: SystemExit) -> int:
    """`sys.exit(x)`'s status: None -> 0, an int as is, anything else printed and 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def exit_now(code: int) -> NoReturn:
    """End the process with `code` after atexit handlers and flushes, skipping the C++ static
    destructors (see the module's docstring)."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`)
            stream.flush()
    os._exit(code)


def run_cli(main: Callable[[], object]) -> NoReturn:
    """Run a CLI's `main()` and end the process as `python -m` would, without the teardown
    that can abort. An int returned is the exit code (None and other values mean 0)."""
    try:
        result = main()
        code = result if isinstance(result, int) and not isinstance(result, bool) else 0
    except SystemExit as exc:
        code = exit_code(exc)
    except BaseException as exc:  # as Python does: the traceback, then 130 for Ctrl-C, else 1
        traceback.print_exc()
        code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    exit_now(code)
