"""Run a function as an unprivileged user, so permission tests mean something under root.

    result = as_nobody(list_dir, str(root))   # in a forked child with uid/gid 65534

Root reads files whatever their mode, so a test that chmods a file to 000 must drop privileges.
The child is forked (no exec: the interpreter may live where `nobody` cannot read), so every
module the function needs must be imported before the call; the result comes back pickled.
Not root: the function runs here, as the current (already unprivileged) user. Skips the test
when privileges cannot be dropped.
"""

import os
import pickle
import shutil
import tempfile
import traceback
from pathlib import Path

import pytest

NOBODY = 65534


@pytest.fixture
def open_tmp():
    """A fresh directory the unprivileged user can reach (pytest's base dir is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="nonroot-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_nobody(fn, *args):
    if os.geteuid() != 0:
        return fn(*args)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, send the outcome, never return to pytest
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 (everything goes back to the parent)
            outcome = ("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        try:
            data = pickle.dumps(outcome)
        except Exception as e:  # noqa: BLE001
            data = pickle.dumps(("error", f"unpicklable result: {e}"))
        with os.fdopen(write, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        pytest.skip("could not run as an unprivileged user")
    kind, value = pickle.loads(data)
    if kind == "error":
        if "setuid" in value or "setgid" in value:
            pytest.skip(f"cannot drop privileges: {value.splitlines()[0]}")
        raise AssertionError(f"as nobody: {value}")
    return value
