"""The HTTP API's TLS, checked with an independent client (openssl
s_client) against `dto run` started with a certificate generated here:
TLS 1.3 is negotiated, TLS 1.2 is allowed, TLS 1.1 and 1.0 are refused; a
key file others can read, plain HTTP on a non-loopback address and one of
tls_cert/tls_key without the other are refused at start, naming the
setting."""
import os
import re
import signal
import subprocess
import time

import pytest

CONFIG = """\
accounts:
  - id: paper
    cash: 100000
instruments:
  - symbol: AAPL
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL]
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  speed: 1
  state_dir: state
  store: sqlite:dto.db
data:
  - path: {data}/AAPL.csv
api:
{api}
"""


def prepare(run, tmp_path, api):
    data = tmp_path / "data"
    r = run("data", "generate", "--out", data, "--symbols", "AAPL", "--days",
            "2", "--start", "2025-01-06", "--seed", "5", "--quiet")
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(data=data, api=api))
    r = run("migrate", "up", "--store", f"sqlite:{tmp_path / 'dto.db'}")
    assert r.returncode == 0, r.stderr
    return cfg


def make_cert(tmp_path):
    key, crt = tmp_path / "api.key", tmp_path / "api.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", key, "-out", crt], check=True,
                   capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    return crt, key


def start(dto_bin, cfg, tmp_path):
    log = tmp_path / "run.log"
    p = subprocess.Popen([dto_bin, "run", "--config", cfg, "--log", log],
                         cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        assert p.poll() is None, p.stderr.read()
        m = re.search(r'"event":"api.listening".*?"port":(\d+)',
                      log.read_text() if log.exists() else "")
        if m:
            return p, int(m.group(1))
        time.sleep(0.05)
    p.kill()
    raise AssertionError("the API did not start listening")


def s_client(port, *opts):
    """openssl s_client's output for one handshake (and a GET)."""
    r = subprocess.run(["openssl", "s_client", "-connect",
                        f"127.0.0.1:{port}", "-servername", "localhost",
                        "-ign_eof",
                        *opts], input="GET /api/v1/openapi.json HTTP/1.1\r\n"
                        "Host: localhost\r\nConnection: close\r\n\r\n",
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def test_tls_versions(dto_bin, run, tmp_path):
    crt, key = make_cert(tmp_path)
    cfg = prepare(run, tmp_path, f"  listen: 127.0.0.1:0\n  tls_cert: {crt}\n"
                               f"  tls_key: {key}")
    p, port = start(dto_bin, cfg, tmp_path)
    try:
        rc, out = s_client(port, "-tls1_3")
        assert rc == 0 and "TLSv1.3" in out, out[-2000:]
        assert "HTTP/1.1 200" in out and "Strict-Transport-Security" in out
        rc, out = s_client(port, "-tls1_2")
        assert rc == 0 and re.search(r"Protocol\s*:\s*TLSv1\.2", out), \
            out[-2000:]
        # the client is told to offer the old versions at all (OpenSSL 3
        # refuses them by default): any refusal is then the server's
        for v in ("-tls1_1", "-tls1"):
            rc, out = s_client(port, v, "-cipher", "DEFAULT:@SECLEVEL=0")
            # no handshake: no certificate came, no cipher was agreed, and
            # no answer came through
            assert "no peer certificate available" in out, (v, out[-2000:])
            assert "Cipher is (NONE)" in out, (v, out[-2000:])
            assert "HTTP/1.1" not in out, (v, out[-2000:])
        # plain HTTP to the TLS port gets nothing useful
        import socket
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            data = b""
        s.close()
        assert b"openapi" not in data
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


@pytest.mark.parametrize("api,needle", [
    ("  listen: 0.0.0.0:0", "api.listen"),
    ("  listen: 127.0.0.1:0\n  tls_cert: {crt}", "tls_cert"),
    ("  listen: 127.0.0.1:0\n  tls_cert: {crt}\n  tls_key: {key}",
     "api.tls_key"),
])
def test_refused_at_start(dto_bin, run, tmp_path, api, needle):
    crt, key = make_cert(tmp_path)
    os.chmod(key, 0o644)  # readable by others: refused
    cfg = prepare(run, tmp_path, api.format(crt=crt, key=key))
    r = subprocess.run([dto_bin, "run", "--config", cfg], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert "BEGIN" not in r.stderr  # no key material in a message
