"""Shared fixtures for dto's black-box tests: the real binary, real files."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bin():
    b = os.environ.get("DTO_BIN")
    if b:
        return b
    for mode in ("check", "release"):
        p = ROOT / "build" / mode / "dto"
        if p.exists():
            return str(p)
    pytest.fail("dto binary not found: build it or set DTO_BIN")


@pytest.fixture(scope="session")
def dto_bin():
    return _bin()


@pytest.fixture(scope="session")
def run(dto_bin):
    """run(*args, timeout=60, cwd=None, check=None) -> CompletedProcess."""

    def _run(*args, timeout=120, cwd=None, input=None):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        return subprocess.run([dto_bin, *map(str, args)], capture_output=True,
                              text=True, timeout=timeout, cwd=cwd, env=env,
                              input=input)

    return _run


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory, run):
    """A small generated data set: 3 symbols, 3 trading days."""
    d = tmp_path_factory.mktemp("sample")
    r = run("data", "generate", "--out", d, "--symbols", "AAPL,MSFT,SPY",
            "--days", "3", "--start", "2025-01-06", "--seed", "7", "--quiet")
    assert r.returncode == 0, r.stderr
    return d


def write_config(path, data_dir, strategies, extra=""):
    """A config using the generated sample files in data_dir."""
    syms = ["AAPL", "MSFT", "SPY"]
    lines = ["log_level: info", "accounts:", "  - id: main",
             "    cash: 100000", "instruments:"]
    lines += [f"  - symbol: {s}" for s in syms]
    lines += ["data:"]
    lines += [f"  - path: {data_dir}/{s}.csv" for s in syms]
    lines += ["strategies:"]
    lines += strategies
    text = "\n".join(lines) + "\n" + extra
    Path(path).write_text(text)
    return path
