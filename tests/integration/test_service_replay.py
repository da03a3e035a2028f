"""Same answers on the service path: `dto run` replays its feed through the
service (a source thread, the engine's inbound queue, the command path's
loop, a read snapshot after every batch), and must trade exactly as
`dto backtest`, which calls the engine directly from one thread: orders.csv
and fills.csv byte for byte, with and without a journal, with the queue
under pressure (speed 0, the feed far ahead of the engine)."""
import filecmp
from pathlib import Path

import pytest

from test_properties import make_config


@pytest.fixture(scope="module")
def feeds(tmp_path_factory, run):
    out = {}
    for cal, days in (("us_equity", 3), ("crypto", 2)):
        d = tmp_path_factory.mktemp("svc-" + cal)
        r = run("data", "generate", "--out", d, "--symbols", "AAPL,MSFT",
                "--days", days, "--start", "2025-01-06", "--seed", "33",
                "--calendar", cal, "--quiet")
        assert r.returncode == 0, r.stderr
        out[cal] = d
    return out


def lines(p):
    return Path(p).read_text().splitlines()


@pytest.mark.parametrize("cal", ["us_equity", "crypto"])
@pytest.mark.parametrize("store", [False, True], ids=["no-store", "journal"])
def test_service_path_equals_backtest(run, feeds, tmp_path, cal, store):
    cfg = make_config(tmp_path / "c.yaml", feeds[cal], cal,
                      ["orb", "ma", "vwap"],
                      store=(tmp_path / "dto.db") if store else None)
    if store:
        r = run("migrate", "up", "--store", f"sqlite:{tmp_path / 'dto.db'}")
        assert r.returncode == 0, r.stderr
    r = run("backtest", "--config", cfg, "--out", tmp_path / "bt", "--quiet")
    assert r.returncode == 0, r.stderr
    r = run("run", "--config", cfg, "--out", tmp_path / "svc", "--log",
            tmp_path / "run.log", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "ended (end of feed)" in r.stdout
    for name in ("orders.csv", "fills.csv"):
        a, b = tmp_path / "bt" / name, tmp_path / "svc" / name
        assert filecmp.cmp(a, b, shallow=False), (
            name, len(lines(a)), len(lines(b)))
    # it traded: many orders, fills of every strategy, brackets' exits
    orders, fills = lines(tmp_path / "bt/orders.csv"), \
        lines(tmp_path / "bt/fills.csv")
    assert len(orders) > 50 and len(fills) > 50
    text = "\n".join(orders)
    for sid in ("orb", "mac", "vwr"):
        assert f",{sid}," in text, sid
