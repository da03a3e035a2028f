"""Helpers for the HTTP API's black-box tests (test_api.py): a running
`dto run` with an `api:` section on the paper exchange and generated data,
users made with `dto user add`, a small HTTP client on http.client, logins
with TOTP codes from pyotp, API tokens, a Server-Sent Events reader.

The API's clock is moved with DTO_API_CLOCK_FILE (seconds added to the real
time); Dto.api_now() is the time the API sees, and every TOTP code is
computed for it.
"""
import http.client
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pyotp

COOKIE = "__Host-dto_session"
V1 = "/api/v1"

CONFIG = """\
accounts:
  - id: paper
    cash: 1000000
instruments:
  - symbol: AAPL
    asset_class: crypto
  - symbol: MSFT
    asset_class: crypto
strategies:
  - id: fast
    type: ma_crossover
    symbols: [AAPL, MSFT]
    allocation: 50000
    params: {{ fast: 2, slow: 5 }}
run:
  feed: replay
  speed: {speed}
  state_dir: state
  store: sqlite:dto.db
data:
  - path: {data}/AAPL.csv
  - path: {data}/MSFT.csv
api:
  listen: 127.0.0.1:0
{api}"""

# every answer of 400 and more seen by any test: none may leak a path, SQL,
# a stack or the version (checked at the end of test_api.py)
ERROR_BODIES = []


class Resp:
    def __init__(self, method, path, status, headers, body):
        self.method, self.path = method, path
        self.status = status
        self.headers = headers  # [(name, value)] in order
        self.body = body        # bytes

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def code(self):
        j = self.json
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("code")
        return None

    @property
    def field(self):
        j = self.json
        if isinstance(j, dict) and isinstance(j.get("error"), dict):
            return j["error"].get("field")
        return None

    def __repr__(self):
        return (f"<{self.method} {self.path} -> {self.status} "
                f"{self.body[:300]!r}>")


class Session:
    """A logged-in cookie session."""

    def __init__(self, user, cookie, csrf, body, set_cookie):
        self.user, self.cookie, self.csrf = user, cookie, csrf
        self.body, self.set_cookie = body, set_cookie


class User:
    def __init__(self, name, role, password, secret=None, uri=None):
        self.name, self.role, self.password = name, role, password
        self.secret, self.uri = secret, uri
        self.last_step = 0  # the last TOTP step the server accepted


def secret_of(uri):
    m = re.search(r"[?&]secret=([A-Z2-7]+)", uri or "")
    return m.group(1) if m else None


def wait_for(pred, timeout, step=0.1, what="condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                         f"last: {last!r}")


class Dto:
    """One `dto run` with the HTTP API, in its own folder."""

    def __init__(self, dto_bin, tmp, api="", speed=60, days=2, extra="",
                 env=None, store=None):
        self.bin, self.tmp = str(dto_bin), Path(tmp)
        self.api_conf, self.speed, self.days = api, speed, days
        self.extra = extra  # more top-level sections (monitoring, alerts)
        self.env = env or {}
        self.store = store  # a postgresql:// URL, or None: SQLite
        self.cfg = self.tmp / "c.yaml"
        self.db = self.tmp / "dto.db"
        self.clock_file = self.tmp / "clock"
        self.log = self.tmp / "run.log"
        self.offset = 0
        self.proc = None
        self.port = None
        self.users = {}
        self.admin = None
        self._admin_session = None
        self._admin_token = None

    # ---- the process --------------------------------------------------

    def cli(self, *args, input=None, timeout=60):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.update(getattr(self, "env", {}))
        return subprocess.run([self.bin, *map(str, args)], capture_output=True,
                              text=True, encoding="utf-8", timeout=timeout,
                              cwd=self.tmp, env=env, input=input)

    def start(self):
        data = self.tmp / "data"
        r = self.cli("data", "generate", "--out", data, "--symbols",
                     "AAPL,MSFT", "--days", str(self.days), "--start",
                     "2025-01-06", "--seed", "21", "--calendar", "crypto",
                     "--quiet")
        assert r.returncode == 0, r.stderr
        api = "".join(f"  {line}\n" for line in self.api_conf.splitlines()
                      if line.strip())
        text = CONFIG.format(speed=self.speed, data=data, api=api)
        if self.store:
            text = text.replace("store: sqlite:dto.db",
                                f"store: {self.store}")
        self.cfg.write_text(text + self.extra)
        r = self.cli("migrate", "up", "--store",
                     self.store or f"sqlite:{self.db}")
        assert r.returncode == 0, r.stderr
        self.clock_file.write_text("0\n")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env["DTO_API_CLOCK_FILE"] = str(self.clock_file)
        env.update(self.env)
        self.out = open(self.tmp / "run.out", "w")
        self.err = open(self.tmp / "run.err", "w")
        self.proc = subprocess.Popen(
            [self.bin, "run", "--config", self.cfg, "--log", self.log],
            cwd=self.tmp, stdout=self.out, stderr=self.err, env=env)

        def port():
            assert self.proc.poll() is None, self.stderr()
            if not self.log.exists():
                return None
            for line in self.log.read_text().splitlines():
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("event") == "api.listening":
                    return ev["port"]
            return None

        self.port = wait_for(port, 30, what="api.listening in the log")
        wait_for(lambda: self.get("/openapi.json").status == 200, 30,
                 what="the API answering")
        return self

    def stderr(self):
        try:
            return (self.tmp / "run.err").read_text()[-4000:]
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, a bounded wait; the exit status (None when killed)."""
        if not self.proc:
            return None
        if self.out.closed:  # stopped already
            return self.proc.returncode
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                rc = None
        else:
            rc = self.proc.returncode
        self.out.close()
        self.err.close()
        return rc

    # ---- the API's clock ----------------------------------------------

    def set_offset(self, seconds):
        assert seconds >= self.offset, "the API's clock only moves forward"
        self.offset = int(seconds)
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{self.offset}\n")
        os.replace(tmp, self.clock_file)

    def advance(self, seconds):
        self.set_offset(self.offset + int(seconds))

    def api_now(self):
        return time.time() + self.offset

    def align(self, lo=2.0, hi=18.0):
        """Move the API's clock so that it is lo..hi seconds into a TOTP
        step: codes computed now stay valid for a while."""
        into = self.api_now() % 30
        if not (lo <= into <= hi):
            self.advance(int(30 - into + lo + 1))

    def code(self, secret, step):
        return pyotp.TOTP(secret).at(step * 30)

    def fresh_code(self, user):
        """A code the server accepts now: a step within one of its current
        one (also a few seconds later) that user has not used yet."""
        for _ in range(4):
            now = self.api_now()
            k, late = int(now // 30), int((now + 3) // 30)
            for s in (k - 1, k, k + 1):
                if s >= late - 1 and s > user.last_step:
                    return s, self.code(user.secret, s)
            self.advance(30)
        raise AssertionError("no usable TOTP step")

    # ---- users, logins, tokens ----------------------------------------

    def add_user(self, name, role, password=None):
        password = password or f"pw {name} {secrets.token_hex(8)}"
        r = self.cli("user", "add", name, "--role", role, "--password-stdin",
                     "--config", self.cfg, input=password + "\n")
        assert r.returncode == 0, (name, r.stdout, r.stderr)
        m = re.search(r"otpauth://\S+", r.stdout)
        uri = m.group(0) if m else None
        u = User(name, role, password, secret_of(uri), uri)
        self.users[name] = u
        return u

    def login_raw(self, name, password, totp=None, source=None):
        body = {"username": name, "password": password}
        if totp is not None:
            body["totp"] = totp
        return self.post("/auth/login", body, source=source)

    def session_of(self, user, r):
        cookies = [v for v in r.header_all("Set-Cookie")
                   if v.startswith(COOKIE + "=")]
        assert len(cookies) == 1, r.headers
        value = cookies[0].split(";", 1)[0].split("=", 1)[1]
        return Session(user, value, r.json["csrf_token"], r.json, cookies[0])

    def login(self, user, expect=200):
        """Log user in (with a fresh TOTP code when they have a secret)."""
        step, code = (self.fresh_code(user) if user.secret else (None, None))
        r = self.login_raw(user.name, user.password, code)
        assert r.status == expect, r
        if r.status != 200:
            return r
        if step is not None:
            user.last_step = step
        return self.session_of(user, r)

    def token(self, user, scope=None, days=None, name=None):
        """An API token made with `dto token create`: (id, secret)."""
        args = ["token", "create", "--user", user.name, "--config", self.cfg]
        if scope:
            args += ["--scope", scope]
        if days:
            args += ["--expires", str(days)]
        if name:
            args += ["--name", name]
        r = self.cli(*args)
        assert r.returncode == 0, r.stderr
        m = re.search(r"token (\d+) for", r.stdout)
        t = re.search(r"^(dto_[0-9a-f]{64})$", r.stdout, re.M)
        assert m and t, r.stdout
        return int(m.group(1)), t.group(1)

    def admin_token(self):
        if not self._admin_token:
            self._admin_token = self.token(self.admin, name="admin-fixture")[1]
        return self._admin_token

    def admin_session(self):
        s = self._admin_session
        if s is None or self.get("/auth/session", session=s).status != 200:
            s = self._admin_session = self.login(self.admin)
        return s

    # ---- HTTP -----------------------------------------------------------

    def request(self, method, path, body=None, *, raw=None, headers=None,
                token=None, session=None, csrf=True,
                ctype="application/json", source=None, timeout=20):
        """One request on a fresh connection.  path is under /api/v1 unless
        it starts with '/api/'.  body: JSON to send; raw: bytes as they
        are.  session: its cookie, and its CSRF token on POST, PATCH and
        DELETE (csrf=False: none; a string: that one).  source: the local
        address to connect from (127.0.0.x: a client of its own)."""
        if not path.startswith("/api/") and path.split("?")[0] not in (
                "/metrics", "/healthz", "/readyz"):
            path = V1 + path
        h = {}
        if body is not None:
            raw = json.dumps(body).encode()
        if isinstance(raw, str):
            raw = raw.encode()
        if raw is not None and ctype:
            h["Content-Type"] = ctype
        if token:
            h["Authorization"] = f"Bearer {token}"
        if session is not None:
            h["Cookie"] = f"{COOKIE}={session.cookie}"
            if csrf is True and method in ("POST", "PATCH", "DELETE", "PUT"):
                h["X-CSRF-Token"] = session.csrf
            elif isinstance(csrf, str):
                h["X-CSRF-Token"] = csrf
        h.update(headers or {})
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=timeout,
            source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=raw, headers=h)
            resp = conn.getresponse()
            data = resp.read()
            r = Resp(method, path, resp.status, resp.getheaders(), data)
        finally:
            conn.close()
        if r.status >= 400:
            ERROR_BODIES.append(r)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def raw_request(self, data, timeout=10):
        """Send bytes as they are; the status line, headers and whatever
        body arrives before the server closes (or the timeout)."""
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=timeout)
        buf = b""
        try:
            s.sendall(data)
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                buf += chunk
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
        finally:
            s.close()
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = [tuple(x.strip() for x in ln.split(":", 1))
                for ln in lines[1:] if ":" in ln]
        r = Resp("RAW", "", status, hdrs, rest)
        if status >= 400:
            ERROR_BODIES.append(r)
        return r

    def pipelined(self, paths, token=None, source=None, timeout=20):
        """GET each of paths on one connection, all sent at once (HTTP/1.1
        pipelining): the server sees them back to back, however slow this
        machine is.  The answers in order."""
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=timeout,
                                     source_address=(source, 0) if source
                                     else None)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        data = "".join(f"GET {V1}{p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                       "\r\n" for p in paths).encode()
        out, buf = [], b""
        try:
            s.sendall(data)
            end = time.monotonic() + timeout
            while len(out) < len(paths) and time.monotonic() < end:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    n = int(m.group(1)) if m else 0
                    if len(rest) >= n:
                        lines = head.decode("latin-1").split("\r\n")
                        hdrs = [tuple(x.strip() for x in ln.split(":", 1))
                                for ln in lines[1:] if ":" in ln]
                        r = Resp("GET", paths[len(out)],
                                 int(lines[0].split()[1]), hdrs, rest[:n])
                        if r.status >= 400:
                            ERROR_BODIES.append(r)
                        out.append(r)
                        buf = rest[n:]
                        continue
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        return out

    # ---- the store --------------------------------------------------------

    def sql(self, query, args=()):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True,
                              timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def backup(self, dest):
        """A consistent copy of the store (SQLite's backup API)."""
        src = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return dest


def start_dto(dto_bin, tmp, api="", admin=True, **kw):
    d = Dto(dto_bin, tmp, api=api, **kw)
    d.start()
    if admin:
        d.admin = d.add_user("root-admin", "admin")
    return d


# ---- Server-Sent Events ----------------------------------------------------

STREAMED = ("order", "fill", "alert", "risk.mode", "lifecycle", "command")
EVENT_NAME = {"risk.mode": "risk"}


class Sse:
    """GET /api/v1/stream on a raw socket; events parsed as they come."""

    def __init__(self, port, token, last_id=None, after=None, timeout=10):
        path = V1 + "/stream" + (f"?after={after}" if after is not None
                                 else "")
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {token}\r\n"
               "Accept: text/event-stream\r\n")
        if last_id is not None:
            req += f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall((req + "\r\n").encode())
        self.raw = b""
        self.data = b""
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            assert time.monotonic() < end, "no answer to the stream request"
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the stream"
            self.raw += chunk
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in
                        (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        self.closed = False

    def _decode(self):
        if not self.chunked:
            self.data += self.raw
            self.raw = b""
            return
        while True:
            line, sep, rest = self.raw.partition(b"\r\n")
            if not sep:
                return
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.closed = True
                self.raw = b""
                return
            if len(rest) < size + 2:
                return
            self.data += rest[:size]
            self.raw = rest[size + 2:]

    def events(self, want, timeout, pred=lambda e: "id" in e):
        """Events until `want` of them match pred, or the timeout; all
        events read (matching or not) in order."""
        out, n = [], 0
        end = time.monotonic() + timeout
        while n < want and time.monotonic() < end and not self.closed:
            while b"\n\n" in self.data and n < want:
                block, _, self.data = self.data.partition(b"\n\n")
                ev = {}
                for ln in block.decode().split("\n"):
                    if not ln or ln.startswith(":"):
                        continue
                    k, _, v = ln.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
                if not ev or set(ev) == {"retry"}:
                    continue
                out.append(ev)
                if pred(ev):
                    n += 1
            if n >= want:
                break
            self.sock.settimeout(max(0.05, min(0.5, end - time.monotonic())))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                self.closed = True
                break
            self.raw += chunk
            self._decode()
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
