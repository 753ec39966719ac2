"""augcli's processes start numpy with one OpenBLAS thread (augcli.executor.single_threaded_blas):
the fork server and every worker forked from it, and the command line's own process; a value the
user set is kept, and a library caller's environment is left as it was."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.executor import BLAS_THREADS_ENV, single_threaded_blas

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# a fresh interpreter, so that this script starts the fork server (the test process may have one already)
_SCRIPT = f"""
import json, os, sys
sys.path.insert(0, {str(TESTS)!r})
import pool_probe
from augcli.executor import LocalExecutor, start_worker_server

if __name__ == "__main__":
    start_worker_server()
    got = [r for _, r in LocalExecutor(2).map(pool_probe.environment, [{BLAS_THREADS_ENV!r}] * 4, pool_probe.no_setup, ())]
    print(json.dumps({{"workers": got, "caller": os.environ.get({BLAS_THREADS_ENV!r})}}))
"""


def _pool_report(tmp_path: Path, value: str | None) -> dict:
    script = tmp_path / "probe.py"
    script.write_text(_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != BLAS_THREADS_ENV}
    if value is not None:
        env[BLAS_THREADS_ENV] = value
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pool_workers_get_one_blas_thread_and_the_caller_keeps_its_environment(tmp_path):
    from augcli.executor import _context

    if _context().get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    assert _pool_report(tmp_path, None) == {"workers": ["1"] * 4, "caller": None}


def test_a_blas_thread_count_the_user_set_is_kept(tmp_path):
    assert _pool_report(tmp_path, "3") == {"workers": ["3"] * 4, "caller": "3"}


def test_single_threaded_blas_sets_only_while_inside_and_only_when_unset(monkeypatch):
    monkeypatch.setenv(BLAS_THREADS_ENV, "x")
    monkeypatch.delenv(BLAS_THREADS_ENV)
    with single_threaded_blas():
        assert os.environ[BLAS_THREADS_ENV] == "1"
    assert BLAS_THREADS_ENV not in os.environ
    monkeypatch.setenv(BLAS_THREADS_ENV, "5")
    with single_threaded_blas():
        assert os.environ[BLAS_THREADS_ENV] == "5"
    assert os.environ[BLAS_THREADS_ENV] == "5"


@pytest.mark.parametrize("user_value, expected", [(None, "1"), ("4", "4")])
def test_the_command_line_sets_one_blas_thread_for_itself_unless_the_user_did(monkeypatch, user_value, expected):
    monkeypatch.setenv(BLAS_THREADS_ENV, "x")  # (monkeypatch restores the test process's own state afterwards)
    if user_value is None:
        monkeypatch.delenv(BLAS_THREADS_ENV)
    else:
        monkeypatch.setenv(BLAS_THREADS_ENV, user_value)
    result = CliRunner().invoke(main, ["validate", str(ROOT / "configs" / "basic.yaml")])
    assert result.exit_code == 0, result.output
    assert os.environ.get(BLAS_THREADS_ENV) == expected
