"""The command line: dispatch, --help, usage errors."""
import pytest


def test_version(run):
    r = run("version")
    assert r.returncode == 0
    assert r.stdout.startswith("dto ")


def test_no_command_is_usage_error(run):
    r = run()
    assert r.returncode == 2
    assert "usage: dto" in r.stderr


def test_unknown_command(run):
    r = run("frobnicate")
    assert r.returncode == 2
    assert "'frobnicate' is not a dto command" in r.stderr


@pytest.mark.parametrize("cmd", [["backtest"], ["run"], ["indicators"],
                                 ["data", "generate"], ["data", "convert"],
                                 ["version"]])
def test_help(run, cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: dto " + cmd[0] in r.stdout


@pytest.mark.parametrize("cmd", ["backtest", "run"])
def test_missing_config_is_usage_error(run, cmd):
    r = run(cmd)
    assert r.returncode == 2
    assert "--config is required" in r.stderr
    assert f"see 'dto {cmd} --help'" in r.stderr


def test_unknown_option(run):
    r = run("backtest", "--frob")
    assert r.returncode == 2
    assert "unknown option '--frob'" in r.stderr


def test_bad_time_option(run, tmp_path):
    r = run("backtest", "--config", tmp_path / "x.yaml", "--from", "yesterday")
    assert r.returncode == 2
    assert "--from" in r.stderr and "not a time" in r.stderr
