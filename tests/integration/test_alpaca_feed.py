"""dto run with broker: alpaca watches its market data: an instrument
without any event for alpaca.stale_after while its market is open is said
stale (a warning and a stale_data alert, once), then fresh again when data
comes back."""
import signal
import subprocess
import time

from test_alpaca_warmup import _config, _env, _log, _post, _start_fake, SYMS


def test_stale_and_fresh_again(dto_bin, tmp_path):
    proc, port = _start_fake(tmp_path)
    base = "http://127.0.0.1:%d" % port
    dto = None
    try:
        cfg = _config(tmp_path, port, 0)
        cfg.write_text(cfg.read_text() + "  stale_after: 1s\n")
        logf = tmp_path / "dto.log"
        dto = subprocess.Popen([dto_bin, "run", "--config", str(cfg),
                                "--log", str(logf)], env=_env(),
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)

        def events(name):
            lines = _log(logf) if logf.exists() else []
            return [l for l in lines if l.get("event") == name]

        def wait(pred, what, limit=30):
            end = time.time() + limit
            while not pred():
                assert dto.poll() is None, dto.stderr.read()
                assert time.time() < end, what
                time.sleep(0.05)

        wait(lambda: any(l.get("state") == "streaming"
                         for l in events("feed.state")), "streaming")
        # the market moves for a while: nothing is stale
        for _ in range(12):
            _post(base + "/_fake/step", {"n": 1})
            time.sleep(0.2)
        assert events("feed.stale") == []
        # then no data at all, the market still open (11:12 New York)
        wait(lambda: len(events("feed.stale")) == len(SYMS),
             "every symbol said stale")
        stale = events("feed.stale")
        assert sorted(l["symbol"] for l in stale) == sorted(SYMS)
        assert all(l["age_ms"] >= 1000 for l in stale), stale
        def alerts():
            return [l for l in events("alert") if l.get("code") ==
                    "stale_data"]
        assert sorted(l["msg"].split()[4] for l in alerts()) == sorted(SYMS)
        time.sleep(1.5)  # said once, not every second
        assert len(events("feed.stale")) == len(SYMS)
        assert len(alerts()) == len(SYMS)
        # data again: fresh
        _post(base + "/_fake/step", {"n": 1})
        wait(lambda: len(events("feed.fresh")) == len(SYMS), "fresh again")
        dto.send_signal(signal.SIGTERM)
        assert dto.wait(timeout=20) == 0
    finally:
        if dto and dto.poll() is None:
            dto.kill()
            dto.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
