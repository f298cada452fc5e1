# Shared set-up for scripts/app.sh and scripts/test.sh (sourced, not run).
# Creates .venv when missing and installs torch (pinned, first) then the given requirement files; each file is
# installed again only when its sha256 changes (stamps in .venv/). Sets the offline/cache environment.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ ! -x .venv/bin/python ]; then
  PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "error: Sift needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2; exit 1; }
  echo "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

# install FILE...: torch first (its pin from requirements.txt, so pip never picks a CUDA build), then FILE...
sift_install() {
  local f want stamp
  for f in "$@"; do
    want="$(python -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$f")"
    stamp=".venv/.installed-$(basename "$f").sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
      continue
    fi
    echo "installing $f into .venv"
    python -m pip install --quiet "$(grep -m1 -E '^torch==' requirements.txt)"
    python -m pip install --quiet -r "$f"
    echo "$want" > "$stamp"
  done
}

export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/.numba_cache}"
export HF_HUB_DISABLE_TELEMETRY=1  # no telemetry; the default model loads from a local package, other models
                                   # named by the user download from the hub when the machine is online
export STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
mkdir -p "$NUMBA_CACHE_DIR"
