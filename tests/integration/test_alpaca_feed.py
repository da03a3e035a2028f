"""dto run with broker: alpaca watches its market data: an instrument
without any event for alpaca.stale_after while its market is open is said
stale (a warning and a stale_data alert, once), then fresh again when data
comes back."""
import time

from alpaca_books import SYMBOLS, LiveRun

GEN = ("--symbols", ",".join(SYMBOLS), "--days", "1", "--seed", "7",
       "--start-index", "100")


def test_stale_and_fresh_again(dto_bin, tmp_path):
    with LiveRun(dto_bin, tmp_path, GEN,
                 alpaca_extra="  warmup_bars: 0\n  stale_after: 1s\n") as r:
        r.wait_ready()
        # the market moves for a while: nothing is stale
        for _ in range(12):
            r.fake.step()
            time.sleep(0.2)
        assert r.events("feed.stale") == []
        # then no data at all, the market still open (11:12 New York)
        r.wait(lambda: len(r.events("feed.stale")) == len(SYMBOLS),
               "every symbol said stale")
        stale = r.events("feed.stale")
        assert sorted(l["symbol"] for l in stale) == sorted(SYMBOLS)
        assert all(l["age_ms"] >= 1000 for l in stale), stale

        def alerts():
            return [l for l in r.events("alert")
                    if l.get("code") == "stale_data"]
        assert sorted(l["msg"].split()[4] for l in alerts()) == \
            sorted(SYMBOLS)
        time.sleep(1.5)  # said once, not every second
        assert len(r.events("feed.stale")) == len(SYMBOLS)
        assert len(alerts()) == len(SYMBOLS)
        # data again: fresh
        r.fake.step()
        r.wait(lambda: len(r.events("feed.fresh")) == len(SYMBOLS),
               "fresh again")
        assert r.dto.stop() == 0
