#!/bin/sh
# deps.sh - install the Debian packages that dto's build and tests need.
#
# Idempotent: it installs only what is missing.  As root it runs apt-get;
# otherwise it prints the exact command to run and exits non-zero when
# something is missing.  DTO_DEPS_SKIP=1 skips the check (for packagers).
set -eu

[ "${DTO_DEPS_SKIP:-0}" = 1 ] && exit 0

# Build: compiler, make, libraries.
PKGS="build-essential pkg-config libyaml-dev libjansson-dev libsqlite3-dev"
PKGS="$PKGS libpq-dev"
# Checksums of .dtob data files (XXH3).
PKGS="$PKGS libxxhash-dev"
# The service: systemd's notify protocol (sd_notify).
PKGS="$PKGS libsystemd-dev"
# Live brokers: HTTP (libcurl) and WebSocket streams (libwebsockets).
PKGS="$PKGS libcurl4-openssl-dev libwebsockets-dev"
# The HTTP API: libmicrohttpd (TLS through GnuTLS), libsodium (argon2id,
# random secrets, SHA-256), GnuTLS (HMAC-SHA-1 for TOTP); the list of
# common passwords refused is taken from python3-zxcvbn at build time.
PKGS="$PKGS libmicrohttpd-dev libgnutls28-dev libsodium-dev python3-zxcvbn"
# Backups (dto backup): zstd compression inside the encrypted archive.
PKGS="$PKGS libzstd-dev"
# docs/openapi.yaml is served as JSON, converted at build time.
PKGS="$PKGS python3-yaml"
# Tests: cmocka, clang + libFuzzer, Python's pytest for black-box tests.
PKGS="$PKGS libcmocka-dev clang libclang-rt-14-dev python3 python3-pytest sqlite3"
# Tests: the fake brokers in tests/fakes/ (HTTP and WebSocket servers).
PKGS="$PKGS python3-aiohttp"
# Tests of the HTTP API: TOTP codes from independent implementations
# (oathtool, pyotp), TLS checks (openssl s_client).
PKGS="$PKGS oathtool python3-pyotp openssl"
# Benchmarks of the HTTP API: wrk as the load, nginx as the reference.
PKGS="$PKGS wrk nginx-light"
PKGS="$PKGS zstd"  # Benchmarks of backups: zstd as the reference
# Tests of monitoring: a real Prometheus and Alertmanager (with promtool and
# amtool) and an SMTP receiver (aiosmtpd).
PKGS="$PKGS prometheus prometheus-alertmanager python3-aiosmtpd"
# Tests: a throwaway PostgreSQL server for the storage conformance suite.
PKGS="$PKGS postgresql"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
  echo "deps.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps.sh: missing packages:$missing" >&2
  echo "deps.sh: run: sudo apt-get install -y$missing" >&2
  exit 1
fi
