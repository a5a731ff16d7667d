#!/usr/bin/env bash
# Renders the verifier's HTML report in headless Chromium and takes a screenshot.
#
# What it shows: the report is one self-contained page (inline CSS, inline SVG charts, no
# script, no network) that a browser renders offline. The page is the report of a doctored
# three-node federation (a protection category disclosed, a `received` without its
# `disclosed`), written by the test `doctored_report_as_html` of
# crates/streha-verify/tests/render.rs, which also checks that the page contains every
# finding.
#
# It also prints the page to A4 PDF, as a data-protection officer files it, and renders
# each PDF page as PNG: look at them to see that no table column is cut off.
#
# Usage:   scripts/render-report.sh [OUT_DIR]        (default: target/report-render)
# Needs:   cargo, chromium and pdftoppm (Debian: apt-get install -y chromium poppler-utils).
# Writes:  OUT_DIR/report.html, OUT_DIR/report.png (1280x2000), OUT_DIR/report.pdf (A4)
#          and OUT_DIR/page-N.png. Keep them out of git: they are build output (target/ is
#          ignored).
#
# Chromium runs with networking disabled in the background and the page's own
# Content-Security-Policy forbids every fetch, so a successful render also shows that the
# page needs nothing from outside.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/report-render}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [[ -z "$browser" ]]; then
    echo "error: chromium not found; install it (Debian: apt-get install -y chromium)" >&2
    exit 2
fi

echo "writing $out/report.html"
STREHA_REPORT_HTML="$out/report.html" \
    cargo test --quiet -p streha-verify --test render doctored_report_as_html -- --exact >/dev/null

echo "rendering with $browser"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --screenshot="$out/report.png" --window-size=1280,2000 \
    "file://$out/report.html" 2>/dev/null

if [[ ! -s "$out/report.png" ]]; then
    echo "error: no screenshot was written" >&2
    exit 1
fi
echo "ok: $out/report.png"

echo "printing to A4 PDF"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$profile" \
    --print-to-pdf="$out/report.pdf" "file://$out/report.html" 2>/dev/null
if [[ ! -s "$out/report.pdf" ]]; then
    echo "error: no PDF was written" >&2
    exit 1
fi
if command -v pdftoppm >/dev/null; then
    rm -f "$out"/page-*.png
    pdftoppm -r 90 -png "$out/report.pdf" "$out/page"
    echo "ok: $out/report.pdf, pages $(ls "$out"/page-*.png | wc -l) as $out/page-N.png"
else
    echo "ok: $out/report.pdf (install poppler-utils for page images)"
fi
