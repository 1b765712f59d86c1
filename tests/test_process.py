"""schemas.process.run_cli: how every CLI ends. Each case runs a real child process that has read
Parquet (so Arrow's thread pools exist) and checks its exit code, stdout and stderr."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import logging, sys
import pyarrow as pa, pyarrow.parquet as pq
from schemas.process import run_cli

def main():
    pq.write_table(pa.table({{"x": list(range(1000))}}), sys.argv[1])
    assert pq.read_table(sys.argv[1]).num_rows == 1000
    logging.basicConfig(stream=sys.stderr, format="%(message)s")
    logging.getLogger("cli").warning("logged")
    print("printed", end="")
    {ending}

run_cli(main)
"""


def run(tmp_path, ending: str) -> subprocess.CompletedProcess:
    script = tmp_path / "cli.py"
    script.write_text(textwrap.dedent(SCRIPT.format(ending=ending)))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "t.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        ("return None", 0),
        ("return {'r_at_1': 0.5}", 0),  # model CLIs return their metrics
        ("return 3", 3),
        ("sys.exit(2)", 2),
        ("sys.exit()", 0),
    ],
)
def test_exit_codes_follow_sys_exit_and_output_is_flushed(tmp_path, ending, code):
    done = run(tmp_path, ending)
    assert done.returncode == code, done.stderr
    assert done.stdout == "printed"  # flushed although the process skips finalisation
    assert "logged" in done.stderr
    assert "terminate called" not in done.stderr


def test_a_message_exit_prints_it_and_exits_1(tmp_path):
    done = run(tmp_path, "sys.exit('no corpus under out/: run make corpus')")
    assert done.returncode == 1
    assert done.stderr.rstrip().endswith("no corpus under out/: run make corpus")


def test_an_uncaught_exception_keeps_its_traceback_and_exits_1(tmp_path):
    done = run(tmp_path, "raise ValueError('bad centroid file')")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("ValueError: bad centroid file")
    assert done.stdout == "printed"


def test_atexit_handlers_still_run(tmp_path):
    done = run(tmp_path, "import atexit; atexit.register(lambda: print(' bye', end=''))")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "printed bye"


def test_ctrl_c_keeps_its_traceback_and_exits_130(tmp_path):
    done = run(tmp_path, "raise KeyboardInterrupt")
    assert done.returncode == 130
    assert done.stderr.rstrip().endswith("KeyboardInterrupt")
