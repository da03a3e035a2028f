"""The operators' monitoring files: deploy/prometheus/ and deploy/grafana/.

- promtool and amtool accept the Prometheus configuration, the rules and
  the Alertmanager configuration;
- the rules' unit tests (dto-rules.test.yml) pass under `promtool test
  rules`, and fail when a rule's `for` is changed (so they test something);
- the rules are the table of dto's alerts written out here, and the same
  as dto's built-in rules (`dto alert rules --json`): name, expression,
  `for`, severity and summary;
- the Grafana dashboard is a valid dashboard JSON model whose queries are
  valid PromQL (checked by promtool) and name only metrics that dto
  exports (or Prometheus's `up`).

Needs PyYAML; promtool (Debian package prometheus) and amtool
(prometheus-alertmanager) are used when installed and skipped otherwise.
"""
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
CONFIG = PROM / "prometheus.yml"
RULES = PROM / "dto-rules.yml"
RULES_TEST = PROM / "dto-rules.test.yml"
ALERTMANAGER = PROM / "alertmanager.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dto-dashboard.json"

# dto's alerts: name -> (expr, for in seconds, severity), from the design.
TABLE = {
    "HighCpu": ("dto_system_cpu_percent > 80", 120, "warning"),
    "HighMemory": ("dto_system_memory_percent > 85", 120, "warning"),
    "DiskAlmostFull": ("dto_disk_percent > 90", 60, "critical"),
    "ApiErrorRate": ("dto_http_error_ratio > 0.01", 300, "warning"),
    "ApiSlow": ("dto_http_p99_seconds > 0.5", 300, "warning"),
    "StoreSlowQuery": ("dto_store_query_max_seconds > 1", 0, "warning"),
    "StoreDown": ("dto_store_up == 0", 0, "critical"),
    "BrokerDisconnected": ("dto_broker_connected == 0", 60, "critical"),
    "MarketDataStale": ("dto_market_data_stale == 1", 0, "warning"),
    "TradeExecutionFailures": ("dto_order_failures_recent > 0", 0, "warning"),
    "DailyLossNearLimit": ("dto_daily_loss_ratio > 0.8", 0, "critical"),
    "PnlAnomaly": ("dto_pnl_jump_ratio > 0.02", 0, "warning"),
    "KillSwitchEngaged": ("dto_kill_switch_engaged == 1", 0, "critical"),
    "BackupFailed": ("dto_backup_last_failed == 1", 0, "critical"),
    "BackupOverdue": ("dto_backup_overdue == 1", 0, "warning"),
    "BackupVerifyFailed": ("dto_backup_verify_last_ok == 0", 0, "critical"),
}
# Prometheus's own: dto cannot report its own absence.
PROMETHEUS_ONLY = {"DtoDown": ('up{job="dto"} == 0', 60, "critical")}

# Every metric dto exports on GET /metrics (histograms by family name).
METRICS = {
    "process_cpu_seconds_total", "process_resident_memory_bytes",
    "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
    "process_start_time_seconds", "dto_process_threads", "dto_uptime_seconds",
    "dto_system_cpu_percent", "dto_system_memory_percent", "dto_disk_percent",
    "dto_network_receive_bytes_total", "dto_network_transmit_bytes_total",
    "dto_http_requests_total", "dto_http_request_duration_seconds",
    "dto_http_error_ratio", "dto_http_p99_seconds", "dto_store_up",
    "dto_store_pool_connections", "dto_store_query_duration_seconds",
    "dto_store_query_max_seconds", "dto_store_journal_lag_items",
    "dto_store_last_commit_age_seconds", "dto_broker_connected",
    "dto_broker_requests_total", "dto_broker_errors_total",
    "dto_broker_reconnects_total", "dto_broker_request_duration_seconds",
    "dto_market_data_age_seconds", "dto_market_data_stale",
    "dto_instrument_last_event_age_seconds", "dto_orders_total",
    "dto_orders_working", "dto_fills_total", "dto_order_failures_recent",
    "dto_risk_refusals_total", "dto_realized_pnl", "dto_unrealized_pnl",
    "dto_day_pnl", "dto_equity", "dto_exposure", "dto_day_trades",
    "dto_daily_loss_ratio", "dto_pnl_jump_ratio", "dto_kill_switch_engaged",
    "dto_maintenance", "dto_alerts_firing", "dto_notifications_total",
    "dto_backup_last_success_timestamp_seconds", "dto_backup_last_failed",
    "dto_backup_overdue", "dto_backup_verify_last_timestamp_seconds",
    "dto_backup_verify_last_ok",
}
HISTOGRAMS = {
    "dto_http_request_duration_seconds", "dto_store_query_duration_seconds",
    "dto_broker_request_duration_seconds",
}
SERIES = (METRICS - HISTOGRAMS) | {
    h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")
} | {"up"}

GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m",
                "$__range": "1h"}


def tool(name):
    path = shutil.which(name) or (f"/usr/bin/{name}"
                                  if Path(f"/usr/bin/{name}").exists()
                                  else None)
    if not path:
        pytest.skip(f"{name} is not installed")
    return path


def run_tool(*args, cwd=None):
    return subprocess.run(list(map(str, args)), capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def duration_s(v):
    """A Prometheus duration ('1h30m', '2m', '0s') or a number of seconds."""
    if v is None:
        return 0
    if isinstance(v, (int, float)):
        return v
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400,
             "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", v)
    assert parts and "".join(n + u for n, u in parts) == v, \
        f"bad duration {v!r}"
    return sum(int(n) * units[u] for n, u in parts)


def rules_by_name():
    doc = yaml.safe_load(RULES.read_text())
    out = {}
    for g in doc["groups"]:
        for r in g["rules"]:
            assert "alert" in r, f"not an alert rule: {r}"
            assert r["alert"] not in out, f"{r['alert']} twice"
            out[r["alert"]] = r
    return out


# ---- PromQL: the metric names an expression reads -------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "and", "or", "unless", "atan2", "inf", "nan",
            "Inf", "NaN"}


def metric_names(expr):
    """The metric names in a PromQL expression: identifiers that are not
    functions, keywords, label names (in {...} or by/on (...)) or parts of
    numbers, strings and durations."""
    for var, val in GRAFANA_VARS.items():
        expr = expr.replace(var, val)
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)   # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges and subqueries
    e = re.sub(r"\boffset\s+-?\w+", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"
                         r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        tok = m.group(0)
        if tok[0].isdigit() or tok in KEYWORDS:
            continue
        if re.match(r"\s*\(", e[m.end():]):
            continue  # a function or an aggregation
        names.add(tok)
    return names


def test_metric_names_extractor():
    assert metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{code=~"5..",'
        'x="y z"}[$__rate_interval])))') == {"a_bucket"}
    assert metric_names('up{job="dto"} == 0') == {"up"}
    assert metric_names("sum(rate(a[5m])) / sum(rate(b[5m])) * 1e3") == \
        {"a", "b"}
    assert metric_names("time() - c offset 5m") == {"c"}
    assert metric_names("topk(10, d) and on (instance) e") == {"d", "e"}


# ---- the tools ------------------------------------------------------------

def test_promtool_check_config():
    r = run_tool(tool("promtool"), "check", "config", CONFIG)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_promtool_check_rules():
    r = run_tool(tool("promtool"), "check", "rules", RULES)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(TABLE) + len(PROMETHEUS_ONLY)} rules found" in \
        r.stdout + r.stderr


def test_amtool_check_config():
    r = run_tool(tool("amtool"), "check-config", ALERTMANAGER)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_promtool_rule_unit_tests():
    r = run_tool(tool("promtool"), "test", "rules", RULES_TEST.name,
                 cwd=PROM)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_rule_unit_tests_catch_changes(tmp_path):
    """dto-rules.test.yml fails when a rule waits longer or shorter than
    the table says, or fires under another severity."""
    promtool = tool("promtool")
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    doc = yaml.safe_load(RULES.read_text())
    mutations = [("HighCpu", "for", "1m"), ("HighCpu", "for", "3m"),
                 ("KillSwitchEngaged", "for", "15s"),
                 ("BrokerDisconnected", "for", "2m"),
                 ("DtoDown", "for", "30s"),
                 ("StoreDown", "severity", "warning")]
    for name, key, val in mutations:
        d = copy.deepcopy(doc)
        for g in d["groups"]:
            for r in g["rules"]:
                if r["alert"] == name:
                    if key == "severity":
                        r["labels"]["severity"] = val
                    else:
                        r[key] = val
        (tmp_path / RULES.name).write_text(yaml.safe_dump(d))
        res = run_tool(promtool, "test", "rules", RULES_TEST.name,
                       cwd=tmp_path)
        assert res.returncode != 0, \
            f"the rule tests pass with {name} {key}: {val}"
    # the unchanged rules pass from the copy too
    (tmp_path / RULES.name).write_text(yaml.safe_dump(doc))
    res = run_tool(promtool, "test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- the rules against the table and dto's built-ins ----------------------

def test_rules_match_table():
    rules = rules_by_name()
    want = dict(TABLE, **PROMETHEUS_ONLY)
    assert set(rules) == set(want)
    for name, (expr, for_s, sev) in want.items():
        r = rules[name]
        assert r["expr"] == expr, name
        assert duration_s(r.get("for")) == for_s, name
        assert r["labels"] == {"severity": sev}, name
        summary = r.get("annotations", {}).get("summary", "")
        assert summary.strip(), f"{name} has no summary"
        # only the series' metrics, which dto exports
        assert metric_names(r["expr"]) <= SERIES, name


def builtin_rules(dto_bin):
    """dto's built-in rules (name, expr, for, severity, summary), as the
    binary prints them."""
    p = subprocess.run([dto_bin, "alert", "rules", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    if isinstance(data, dict):
        data = data["rules"]
    out = {}
    for r in data:
        name = r.get("name") or r.get("alert")
        for_v = r.get("for", r.get("for_s", r.get("for_seconds", 0)))
        sev = r.get("severity") or r.get("labels", {}).get("severity")
        out[name] = (r["expr"], duration_s(for_v), sev, r.get("summary"))
    return out


def dto_summary_to_prometheus(s):
    """dto's summary template ({{value}}, {{LABEL}}) in Prometheus's."""
    return re.sub(
        r"\{\{(\w+)\}\}",
        lambda m: ('{{ $value | printf "%.4g" }}' if m.group(1) == "value"
                   else "{{ $labels.%s }}" % m.group(1)), s)


def test_rules_match_builtin(dto_bin):
    rules = rules_by_name()
    builtin = builtin_rules(dto_bin)
    assert set(builtin) == set(rules) - set(PROMETHEUS_ONLY)
    # the table itself is dto's (catches a typo in either)
    assert {n: v[:3] for n, v in builtin.items()} == TABLE
    for name, (expr, for_s, sev, summary) in builtin.items():
        r = rules[name]
        assert r["expr"] == expr, name
        assert duration_s(r.get("for")) == for_s, name
        assert r["labels"]["severity"] == sev, name
        if summary is not None:
            assert r["annotations"]["summary"] == \
                dto_summary_to_prometheus(summary), name


# ---- the configurations ---------------------------------------------------

def test_prometheus_config_contents():
    text = CONFIG.read_text()
    doc = yaml.safe_load(text)
    assert doc["rule_files"] == ["dto-rules.yml"]
    ams = doc["alerting"]["alertmanagers"]
    assert [t for a in ams for s in a["static_configs"]
            for t in s["targets"]] == ["127.0.0.1:9093"]
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    dto = jobs["dto"]
    assert duration_s(dto.get("scrape_interval",
                              doc["global"]["scrape_interval"])) == 15
    assert dto.get("metrics_path", "/metrics") == "/metrics"
    assert [t for s in dto["static_configs"] for t in s["targets"]] == \
        ["127.0.0.1:8080"]
    # the bearer token, commented out, read from a file
    block = re.search(r"^\s*#\s*authorization:\s*\n\s*#\s*type:\s*Bearer\s*\n"
                      r"\s*#\s*credentials_file:\s*\S+", text, re.M)
    assert block, "no commented authorization/credentials_file block"
    # uncommented, it is still a valid configuration
    uncommented = re.sub(r"^(\s*)# (authorization:|  type:|"
                         r"  credentials_file:)", r"\1\2", text, flags=re.M)
    d2 = yaml.safe_load(uncommented)
    auth = {j["job_name"]: j for j in d2["scrape_configs"]}["dto"][
        "authorization"]
    assert auth["type"] == "Bearer" and auth["credentials_file"]


def test_prometheus_config_with_token_is_valid(tmp_path):
    promtool = tool("promtool")
    text = CONFIG.read_text()
    token = tmp_path / "dto-token"
    token.write_text("secret\n")
    text = re.sub(r"^(\s*)# (authorization:|  type:|  credentials_file:)",
                  r"\1\2", text, flags=re.M)
    text = re.sub(r"credentials_file:\s*\S+", f"credentials_file: {token}",
                  text)
    (tmp_path / "prometheus.yml").write_text(text)
    shutil.copy(RULES, tmp_path / RULES.name)
    r = run_tool(promtool, "check", "config", tmp_path / "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_alertmanager_routes():
    doc = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {r["name"]: r for r in doc["receivers"]}
    route = doc["route"]
    assert route["receiver"] in receivers
    sevs = {}
    for sub in route["routes"]:
        assert sub["receiver"] in receivers
        for m in sub["matchers"]:
            mm = re.fullmatch(r'severity="(\w+)"', m)
            if mm:
                sevs[mm.group(1)] = sub["receiver"]
    assert set(sevs) == {"critical", "warning"}
    for name in set(sevs.values()):
        hooks = receivers[name].get("webhook_configs")
        assert hooks and all(h.get("url") for h in hooks), name
    # every severity the rules use has a route
    used = {r["labels"]["severity"] for r in rules_by_name().values()}
    assert used <= set(sevs)


# ---- the dashboard --------------------------------------------------------

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def dashboard_exprs():
    d = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in all_panels(d["panels"])
            for t in p.get("targets", [])]


def test_dashboard_model():
    d = json.loads(DASHBOARD.read_text())
    assert d["schemaVersion"] >= 36
    assert d["title"] and d["uid"]
    inputs = {i["name"]: i for i in d["__inputs"]}
    assert inputs["DS_PROMETHEUS"]["type"] == "datasource"
    assert inputs["DS_PROMETHEUS"]["pluginId"] == "prometheus"
    ids = set()
    for p in all_panels(d["panels"]):
        assert p["id"] not in ids, f"panel id {p['id']} twice"
        ids.add(p["id"])
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus",
                                   "uid": "${DS_PROMETHEUS}"}, p["title"]
        targets = p["targets"]
        assert targets, p["title"]
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), p["title"]
        for t in targets:
            assert t["expr"].strip(), p["title"]
            assert t.get("datasource", p["datasource"]) == p["datasource"]
    # no two panels overlap
    cells = {}
    for p in all_panels(d["panels"]):
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, \
                    f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_dashboard_metrics_exist():
    used = set()
    for title, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, f"{title}: {expr} reads no metric"
        unknown = names - SERIES
        assert not unknown, f"{title}: {expr}: unknown {sorted(unknown)}"
        used |= names
    # the panels asked for
    for m in ["dto_system_cpu_percent", "dto_system_memory_percent",
              "dto_disk_percent", "dto_http_requests_total",
              "dto_http_request_duration_seconds_bucket",
              "dto_http_error_ratio",
              "dto_store_query_duration_seconds_bucket",
              "dto_store_journal_lag_items", "dto_broker_connected",
              "dto_market_data_age_seconds", "dto_equity", "dto_day_pnl",
              "dto_orders_total", "dto_fills_total",
              "dto_risk_refusals_total", "dto_alerts_firing",
              "dto_kill_switch_engaged"]:
        assert m in used, f"no panel shows {m}"
    exprs = [e for _, e in dashboard_exprs()]
    for h in ["dto_http_request_duration_seconds_bucket",
              "dto_store_query_duration_seconds_bucket"]:
        assert any(re.search(r"histogram_quantile\(0\.99,.*" + h, e)
                   for e in exprs), f"no p99 of {h}"
    # by account and by reason
    assert any("dto_equity" in e for e in exprs)
    assert any(re.search(r"by \(reason\).*dto_risk_refusals_total", e)
               for e in exprs)


def test_dashboard_promql_is_valid(tmp_path):
    """Every query, with Grafana's variables filled in, as a recording rule
    that promtool parses."""
    promtool = tool("promtool")
    rules = []
    for i, (title, expr) in enumerate(dashboard_exprs()):
        for var, val in GRAFANA_VARS.items():
            expr = expr.replace(var, val)
        assert "$" not in expr, f"{title}: unknown variable in {expr}"
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard",
                                                "rules": rules}]}))
    r = run_tool(promtool, "check", "rules", path)
    assert r.returncode == 0, r.stdout + r.stderr
