"""E-mail notifications over real SMTP: `dto alert test` against an
aiosmtpd server on 127.0.0.1 (receivers.py) with a self-signed
certificate made for the test.  STARTTLS is required by default: the
message must arrive over TLS, a server that does not offer STARTTLS or a
certificate that is not trusted must fail with a clear error, and SMTP
login must work over TLS.  Every receiver and every dto run is bounded in
time."""
import email.parser
import email.utils
import os
import subprocess

import pytest

from receivers import dto_alert_test, start_smtp, write_alert_config

FROM = "dto@example.com"
TO = ["ops@example.com", "oncall@example.com"]


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days",
         "1"], check=True, capture_output=True, timeout=60)
    return crt, key


def mail_channel(port, **kw):
    ch = {"name": "ops-mail", "type": "email",
          "url": f"smtp://127.0.0.1:{port}", "from": FROM, "to": TO,
          "timeout": "5s", "retries": 0}
    ch.update(kw)
    return ch


def test_starttls_delivery(dto_bin, tmp_path, cert):
    crt, key = cert
    with start_smtp(tmp_path / "mail.jsonl", crt, key,
                    require_starttls=True) as rx:
        cfg = write_alert_config(tmp_path / "c.yaml", [
            mail_channel(rx.port, ca_file=str(crt), retries=2)],
            extra="monitoring:\n  instance: testhost\n")
        r = dto_alert_test(dto_bin, cfg, "ops-mail")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(
            "dto: test notification delivered to ops-mail (1 attempt, ")
        recs = rx.wait_records(1)
    assert len(recs) == 1
    m = recs[0]
    assert m["tls"] is True  # STARTTLS was used
    assert m["mail_from"] == FROM
    assert sorted(m["rcpt_tos"]) == sorted(TO)
    msg = email.parser.Parser().parsestr(m["data"])
    assert msg["From"] == FROM
    assert [a for _, a in email.utils.getaddresses([msg["To"]])] == TO
    assert msg["Subject"] == "[TEST] dto test notification from testhost"
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg["Message-ID"].startswith("<") and "@" in msg["Message-ID"]
    assert msg.get_content_type() == "text/plain"
    assert "ops-mail" in msg.get_payload()


def test_login_over_tls(dto_bin, tmp_path, cert):
    crt, key = cert
    env = {"RX_PW": "pw-S3cret-value", "DTO_SMTP_PASSWORD": "pw-S3cret-value"}
    with start_smtp(tmp_path / "mail.jsonl", crt, key, require_starttls=True,
                    auth="dto:RX_PW", env={**os.environ, **env}) as rx:
        cfg = write_alert_config(tmp_path / "c.yaml", [
            mail_channel(rx.port, ca_file=str(crt), username="dto",
                         password_env="DTO_SMTP_PASSWORD")])
        r = dto_alert_test(dto_bin, cfg, "ops-mail", env=env)
        assert r.returncode == 0, r.stderr
        recs = rx.wait_records(1)
        assert recs[0]["auth_user"] == "dto" and recs[0]["tls"] is True

        bad = {"DTO_SMTP_PASSWORD": "wrong-S3cret-value"}
        r = dto_alert_test(dto_bin, cfg, "ops-mail", env=bad)
        assert r.returncode == 1
        assert "ops-mail: delivery failed: SMTP login denied" in r.stderr
        assert "S3cret" not in r.stderr + r.stdout
        assert len(rx.records()) == 1


def test_no_starttls_offered_fails(dto_bin, tmp_path):
    # a server without a certificate offers no STARTTLS
    with start_smtp(tmp_path / "mail.jsonl") as rx:
        cfg = write_alert_config(tmp_path / "c.yaml", [mail_channel(rx.port)])
        r = dto_alert_test(dto_bin, cfg, "ops-mail")
        assert r.returncode == 1, r.stdout
        assert ("dto: ops-mail: delivery failed: the server does not offer "
                "STARTTLS") in r.stderr
        assert rx.records() == []


def test_untrusted_certificate_fails(dto_bin, tmp_path, cert):
    crt, key = cert
    with start_smtp(tmp_path / "mail.jsonl", crt, key,
                    require_starttls=True) as rx:
        # no ca_file: the self-signed certificate is not trusted
        cfg = write_alert_config(tmp_path / "c.yaml", [mail_channel(rx.port)])
        r = dto_alert_test(dto_bin, cfg, "ops-mail")
        assert r.returncode == 1
        assert "ops-mail: delivery failed: TLS" in r.stderr
        assert rx.records() == []


def test_plain_smtp_needs_loopback_and_opt_out(dto_bin, tmp_path):
    # starttls: false is allowed on loopback only, and then sends in clear
    with start_smtp(tmp_path / "mail.jsonl") as rx:
        cfg = write_alert_config(tmp_path / "c.yaml", [
            mail_channel(rx.port, starttls=False)])
        r = dto_alert_test(dto_bin, cfg, "ops-mail")
        assert r.returncode == 0, r.stderr
        recs = rx.wait_records(1)
        assert recs[0]["tls"] is False
    cfg = write_alert_config(tmp_path / "c2.yaml", [
        mail_channel(1, url="smtp://mail.example.com:25", starttls=False)])
    r = dto_alert_test(dto_bin, cfg, "ops-mail")
    assert r.returncode == 1
    assert "alerts.channels.ops-mail.starttls:" in r.stderr
