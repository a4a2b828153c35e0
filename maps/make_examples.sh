#!/usr/bin/env bash
# Makes the committed examples under maps/ with netplan's own commands, from the default
# data and scenario: the city plan and one district (东城). Run from the repository:
#   bash maps/make_examples.sh
# The PDF pages are turned into PNGs with pdftoppm (Debian's poppler-utils), if present.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

netplan plan --out "$work/plan-city" >/dev/null
netplan plan --district 东城 --out "$work/plan-110101" >/dev/null

for plan in plan-city plan-110101; do
  mkdir -p "maps/$plan"
  netplan map "$work/$plan" --out "maps/$plan/map.html" --screenshot "maps/$plan/map.png" --force
  netplan report "$work/$plan" --out "maps/$plan/report.html" --map "maps/$plan/map.html" \
    --pdf "maps/$plan/report.pdf" --force
done
if command -v pdftoppm >/dev/null 2>&1; then
  pdftoppm -png -r 60 -f 1 -l 3 maps/plan-city/report.pdf maps/plan-city/report-page
fi
