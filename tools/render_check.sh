#!/usr/bin/env bash
# Render the whole book (HTML site + Typst PDF) from a clean state and fail on anything a reader would notice:
# an ERROR, any WARN except the known harmless typst-gather one, an unresolved cross-reference (`?@`) or
# citation, or a missing PDF. Used by .ci/run whenever a Quarto can be found (tools/quarto.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp); trap 'rm -f "$log"' EXIT
rm -rf _book .quarto
tools/quarto.sh render >"$log" 2>&1; rc=$?
fail=0
bad() { echo "render check: $*" >&2; fail=1; }
[ $rc -eq 0 ] || bad "quarto render exited $rc"
grep -n 'ERROR' "$log" >&2 && bad "ERROR in the render log"
grep -n 'WARN' "$log" | grep -v 'typst-gather' >&2 && bad "WARN in the render log (only the typst-gather one is expected)"
pdf=_book/toymodels-report.pdf
[ -s "$pdf" ] || bad "no PDF at $pdf"
grep -rl '?@' _book --include='*.html' >&2 && bad "unresolved cross-reference (?@) in the HTML"
grep -rlE 'class="quarto-unresolved-ref"|citeproc-not-found' _book --include='*.html' >&2 && bad "unresolved reference or citation in the HTML"
if [ -s "$pdf" ] && command -v pdftotext >/dev/null; then
  pdftotext "$pdf" - | grep -nE '\?@|\?\?' >&2 && bad "unresolved reference in the PDF text"
  pages=$(pdfinfo "$pdf" 2>/dev/null | awk '/^Pages/{print $2}')
fi
if [ $fail -ne 0 ]; then echo "--- render log (tail) ---" >&2; tail -n 40 "$log" >&2; exit 1; fi
echo "render check passed: $(ls _book/chapters/*.html | wc -l) chapter pages, PDF ${pages:-?} pages"
