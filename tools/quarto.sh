#!/usr/bin/env bash
# Run Quarto, finding one: $QUARTO, then `quarto` on PATH, then the offline build from ../shared/tools/quarto
# (installed once into /opt/quarto-lab, or $QUARTO_LAB_PREFIX), then the venv's quarto-cli (the `book` extra,
# installed on first use: it downloads Quarto, so it needs a machine with internet access).
#   tools/quarto.sh render      tools/quarto.sh --version      tools/quarto.sh --which
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
prefix=${QUARTO_LAB_PREFIX:-/opt/quarto-lab}
find_quarto() {
  if [ -n "${QUARTO:-}" ]; then echo "$QUARTO"; return; fi
  if command -v quarto >/dev/null 2>&1; then command -v quarto; return; fi
  if [ -x "$prefix/bin/quarto" ]; then echo "$prefix/bin/quarto"; return; fi
  if [ -f "$root/../shared/tools/quarto/install.sh" ]; then
    bash "$root/../shared/tools/quarto/install.sh" --prefix "$prefix" >&2 && echo "$prefix/bin/quarto"; return
  fi
  if [ -x "$venv/bin/quarto" ]; then echo "$venv/bin/quarto"; return; fi
  "$venv/bin/python" -m pip install --quiet -e "$root[book]" >&2 && echo "$venv/bin/quarto"
}
q=$(find_quarto)
if [ "${1:-}" = --which ]; then echo "$q"; exit 0; fi
# The notebook filter (toymodels-quarto-filter) and Jupyter come from the project's venv.
export PATH="$venv/bin:$PATH" QUARTO_PYTHON="${QUARTO_PYTHON:-$venv/bin/python}"
exec "$q" "$@"
