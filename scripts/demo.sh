#!/bin/sh
# demo.sh DTO_BIN - generate sample data when missing, then backtest every
# built-in strategy on several symbols over several trading days.
set -eu
dto=$1
cd "$(dirname "$0")/.."
if [ ! -f data/sample/NVDA.csv ]; then
  echo "demo: generating sample data in data/sample/ (5 symbols, 5 trading days)"
  "$dto" data generate --out data/sample --days 5 --start 2025-01-06 --seed 42 --quiet
fi
echo "demo: dto backtest --config config/demo.yaml"
echo
"$dto" backtest --config config/demo.yaml
