"""Loopback receivers for the notification tests: an HTTP endpoint and an
SMTP server that record what dto sends them.

As a program (one receiver a process):

  python3 receivers.py http --port 0 --out FILE --mode ok|fail|hang|flaky
      [--status N] [--fail-first N] [--max-seconds S]
  python3 receivers.py smtp --port 0 --out FILE [--tls-cert C --tls-key K]
      [--require-starttls] [--auth USER:PASSWORD_ENV] [--max-seconds S]

The first line on stdout is "PORT n" (the port chosen); each request
(HTTP) or message (SMTP) is then appended to FILE as one JSON line:

  http: {"method", "path", "headers": {name: value}, "body", "time"}
  smtp: {"mail_from", "rcpt_tos", "data", "tls", "auth_user", "time"}

Modes of the HTTP receiver: ok answers --status (200), fail answers 500,
hang never answers (the request is recorded first), flaky answers 500 to
the first --fail-first (2) requests and --status after that.  Without a
certificate the SMTP server does not offer STARTTLS; with
--require-starttls it refuses MAIL before STARTTLS.  Both listen on
127.0.0.1 only and exit when stdin closes or after --max-seconds (300).

As a module: start_http(...) and start_smtp(...) run the same programs and
return a Receiver (its port, its records, stop()); pytest uses them.
"""
import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


# ---- the programs -----------------------------------------------------------

class _Recorder:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8")

    def write(self, rec):
        rec["time"] = time.time()
        line = json.dumps(rec, sort_keys=True)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()


def _exit_on_stdin_close_or_timeout(max_seconds, stop):
    """Call stop() when stdin reaches EOF or after max_seconds."""
    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop()

    threading.Thread(target=watch_stdin, daemon=True).start()
    timer = threading.Timer(max_seconds, stop)
    timer.daemon = True
    timer.start()


def run_http(args):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    rec = _Recorder(args.out)
    done = threading.Event()
    state = {"n": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the answer's head and body go out in two writes: without this,
        # Nagle and the client's delayed ACK hold the body back ~40 ms
        disable_nagle_algorithm = True

        def log_message(self, fmt, *a):  # quiet
            pass

        def _any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n > 0 else b""
            with lock:
                i = state["n"]
                state["n"] += 1
            rec.write({
                "method": self.command,
                "path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
            })
            if args.mode == "hang":
                # never answer; the client gives up and closes
                while not done.wait(0.05):
                    pass
                self.close_connection = True
                return
            status = args.status
            if args.mode == "fail" or (args.mode == "flaky"
                                       and i < args.fail_first):
                status = 500
            out = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _any

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", args.port), Handler)
    print(f"PORT {srv.server_address[1]}", flush=True)

    def stop():
        done.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    _exit_on_stdin_close_or_timeout(args.max_seconds, stop)
    srv.serve_forever(poll_interval=0.05)
    srv.server_close()
    return 0


def run_smtp(args):
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    rec = _Recorder(args.out)
    ctx = None
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    user = password = None
    if args.auth:
        user, _, env = args.auth.partition(":")
        password = os.environ.get(env, "")

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            data = envelope.content
            if isinstance(data, bytes):
                data = data.decode("utf-8", errors="replace")
            rec.write({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": data,
                "tls": session.ssl is not None,
                "auth_user": (session.auth_data.login.decode()
                              if isinstance(getattr(session, "auth_data",
                                                    None), LoginPassword)
                              else None),
            })
            return "250 2.0.0 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and user is not None
              and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        # handled=False: aiosmtpd answers 535 itself on failure
        return AuthResult(success=ok, handled=False,
                          auth_data=auth_data if ok else None)

    async def main():
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def factory():
            kw = dict(hostname="receiver.localhost", loop=loop,
                      tls_context=ctx,
                      require_starttls=bool(ctx and args.require_starttls))
            if user is not None:
                kw.update(authenticator=authenticator, auth_require_tls=True)
            return SMTP(Handler(), **kw)

        srv = await loop.create_server(factory, "127.0.0.1", args.port)
        print(f"PORT {srv.sockets[0].getsockname()[1]}", flush=True)
        _exit_on_stdin_close_or_timeout(
            args.max_seconds, lambda: loop.call_soon_threadsafe(stopped.set))
        await stopped.wait()
        srv.close()

    asyncio.run(main())
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    h = sub.add_parser("http")
    h.add_argument("--port", type=int, default=0)
    h.add_argument("--out", required=True)
    h.add_argument("--mode", choices=["ok", "fail", "hang", "flaky"],
                   default="ok")
    h.add_argument("--status", type=int, default=200)
    h.add_argument("--fail-first", type=int, default=2)
    h.add_argument("--max-seconds", type=float, default=300)
    s = sub.add_parser("smtp")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    s.add_argument("--require-starttls", action="store_true")
    s.add_argument("--auth", help="USER:ENV, the password in variable ENV")
    s.add_argument("--max-seconds", type=float, default=300)
    args = p.parse_args(argv)
    if args.kind == "smtp" and bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    return run_http(args) if args.kind == "http" else run_smtp(args)


# ---- the module ---------------------------------------------------------------

class Receiver:
    """A receiver program running in the background."""

    def __init__(self, proc, out):
        self.proc = proc
        self.out = Path(out)
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            proc.kill()
            proc.wait(timeout=5)
            err = Path(f"{out}.stderr")
            raise RuntimeError(f"receiver did not start: {line!r} "
                               f"{err.read_text() if err.exists() else ''}")
        self.port = int(line.split()[1])

    def records(self):
        if not self.out.exists():
            return []
        # whole lines only: the receiver may be writing the last one
        lines = self.out.read_text().split("\n")[:-1]
        return [json.loads(l) for l in lines if l.strip()]

    def wait_records(self, n, timeout=10.0):
        """The records once there are at least n (or after timeout)."""
        end = time.monotonic() + timeout
        while True:
            r = self.records()
            if len(r) >= n or time.monotonic() > end:
                return r
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _start(args, out, env=None, max_seconds=120):
    cmd = [sys.executable, str(Path(__file__).resolve()), *args,
           "--out", str(out), "--max-seconds", str(max_seconds)]
    # stderr to a file: a pipe nobody reads could fill and block it
    with open(f"{out}.stderr", "w") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                env=env)
    return Receiver(proc, out)


def start_http(out, mode="ok", status=200, fail_first=2, max_seconds=120):
    return _start(["http", "--port", "0", "--mode", mode, "--status",
                   str(status), "--fail-first", str(fail_first)], out,
                  max_seconds=max_seconds)


def start_smtp(out, cert=None, key=None, require_starttls=False, auth=None,
               env=None, max_seconds=120):
    args = ["smtp", "--port", "0"]
    if cert:
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    if require_starttls:
        args.append("--require-starttls")
    if auth:
        args += ["--auth", auth]
    return _start(args, out, env=env, max_seconds=max_seconds)


# ---- driving `dto alert test` ------------------------------------------------

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_scalar(x) for x in v) + "]"
    return json.dumps(str(v))  # a JSON string is a YAML string


def write_alert_config(path, channels, extra=""):
    """A minimal configuration (one account) whose alerts.channels are the
    given dicts; returns path."""
    lines = ["accounts:", "  - id: main", "    cash: 100000", "alerts:",
             "  channels:"]
    for ch in channels:
        first = True
        for k, v in ch.items():
            lines.append(("    - " if first else "      ")
                         + f"{k}: {_yaml_scalar(v)}")
            first = False
    Path(path).write_text("\n".join(lines) + "\n" + extra)
    return path


def dto_alert_test(dto_bin, config, channel, env=None, timeout=60):
    """Run `dto alert test CHANNEL -c CONFIG` with os.environ plus env."""
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    e.update(env or {})
    return subprocess.run([dto_bin, "alert", "test", channel, "-c",
                           str(config)], capture_output=True, text=True,
                          timeout=timeout, env=e)


if __name__ == "__main__":
    sys.exit(main())
