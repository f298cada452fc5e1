#!/usr/bin/env bash
# Run Sift: install into .venv when needed, build the demo workspace on first run, serve http://127.0.0.1:8501
# Environment: SIFT_WORKSPACE (default ./workspace), SIFT_PORT (default 8501).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sift_install requirements.txt

export SIFT_WORKSPACE="${SIFT_WORKSPACE:-$ROOT/workspace}"
# exit 1 only when the workspace surely has no dataset (a locked or unreadable one is left to the app to report)
if ! python - "$SIFT_WORKSPACE" <<'PY'
import sys
from pathlib import Path
if not (Path(sys.argv[1]) / "sift.duckdb").exists():
    sys.exit(1)
try:
    from core.store import Store
    store = Store(sys.argv[1], read_only=True)
    has = bool(store.datasets())
    store.close()
except Exception:
    has = True
sys.exit(0 if has else 1)
PY
then
  echo "building the demo workspace in $SIFT_WORKSPACE"
  python -m core demo --workspace "$SIFT_WORKSPACE"
fi

echo "Sift: http://127.0.0.1:${SIFT_PORT:-8501}  (workspace $SIFT_WORKSPACE; Ctrl+C stops it)"
exec python -m streamlit run app.py --server.address 127.0.0.1 --server.port "${SIFT_PORT:-8501}" \
  --server.headless true --browser.gatherUsageStats false
