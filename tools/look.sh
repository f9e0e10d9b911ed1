#!/usr/bin/env bash
# Look at the rendered book as a reader does: screenshots of website pages and PNGs of PDF pages.
#   tools/look.sh html [WIDTHxHEIGHT] PAGE...   PAGE relative to _book/, e.g. chapters/04_phase_change.html
#   tools/look.sh pdf [FIRST LAST]              PDF pages at 60 dpi
# Output goes to ${LOOK_OUT:-/tmp/look}. MathJax comes from a local npm copy (offline machines), installed once
# into /tmp/mj. Needs Debian's chromium and poppler-utils.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${LOOK_OUT:-/tmp/look}; mkdir -p "$out"
kind=${1:?html or pdf}; shift
if [ "$kind" = pdf ]; then
  pdf=$(ls _book/*.pdf | head -n 1)
  pdftoppm -r 60 -png ${1:+-f $1} ${2:+-l $2} "$pdf" "$out/pdf"
  echo "$pdf: $(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages/{print $2}') pages -> $out/pdf-*.png"; exit 0
fi
size=1400,900
if [[ ${1:-} =~ ^[0-9]+x[0-9]+$ ]]; then size=${1/x/,}; shift; fi
[ -d /tmp/mj/node_modules/mathjax ] || npm install --silent --prefix /tmp/mj mathjax@3 >/dev/null
site=$(mktemp -d /tmp/site.XXXX); cp -r _book/. "$site"; cp -r /tmp/mj/node_modules/mathjax "$site/mathjax"
find "$site" -name '*.html' -exec sed -i 's#src="https://[^"]*/mathjax@3/es5/#src="/mathjax/es5/#' {} +
port=$((8100 + RANDOM % 800))
(cd "$site" && exec python3 -m http.server "$port" >/dev/null 2>&1) & srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$site"' EXIT
sleep 1
for page in "$@"; do
  name=$(echo "$page" | tr '/#' '__' | sed 's/\.html//')
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --hide-scrollbars \
    --virtual-time-budget=8000 --window-size="$size" --screenshot="$out/$name.png" \
    "http://127.0.0.1:$port/$page" >/dev/null 2>&1
  echo "$out/$name.png"
done
