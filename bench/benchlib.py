"""benchlib.py - what the Python benchmarks share: wrk as the load, nginx
as the reference server (Debian's wrk and nginx-light)."""
import os
import signal
import re
import socket
import subprocess
import sys
import time
import urllib.request


def wrk(url, conns, secs, work, token=None):
    """wrk -t2 -cCONNS for SECS seconds: requests/s, p50 and p99 in ms,
    non-2xx answers."""
    lua = os.path.join(work, "auth.lua")
    with open(lua, "w") as f:
        if token:
            f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
    r = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--latency",
                        "-s", lua, url], capture_output=True, text=True,
                       timeout=secs + 60)
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errs = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    return {"rps": rps, "p50_ms": lat(50), "p99_ms": lat(99),
            "non2xx": int(errs.group(1)) if errs else 0, "raw": out}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(work, name, size):
    """nginx serving one static file of `size` bytes at /NAME on a free
    loopback port: (process, port)."""
    root = os.path.join(work, "nginx")
    os.makedirs(os.path.join(root, "html"), exist_ok=True)
    with open(os.path.join(root, "html", name), "w") as f:
        f.write("x" * size)
    # nginx's workers run as another user (www-data): a folder from
    # mktemp -d (0700) would answer 403
    for d in (work, root, os.path.join(root, "html")):
        os.chmod(d, 0o755)
    os.chmod(os.path.join(root, "html", name), 0o644)
    port = free_port()  # nginx's listen takes no port 0
    conf = os.path.join(root, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port};
    root {root}/html;
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", root, "-g",
                          "daemon off;"], stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/{name}",
                                   timeout=1).read()
            return p, port
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("nginx did not start: " + p.stderr.read().decode())


def peak_rss_mib(pid):
    """A live process's peak RSS (VmHWM), MiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stop(dto_proc, nginx_proc=None):
    """SIGTERM to dto (a drain), SIGQUIT to nginx; killed when they do not
    end in time."""
    for p, sig, t in ((dto_proc, signal.SIGTERM, 30),
                      (nginx_proc, signal.SIGQUIT, 10)):
        if not p:
            continue
        p.send_signal(sig)
        try:
            p.wait(timeout=t)
        except subprocess.TimeoutExpired:
            p.kill()
