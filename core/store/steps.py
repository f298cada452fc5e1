"""Store, Steps: the runs table (every computed column records its runs here)."""
from __future__ import annotations

import orjson

from core.store.base import now


class StepsMixin:
    # ------------------------------------------------------------------ runs (Step bookkeeping)
    def start_run(self, step: str, params: dict) -> int:
        with self._lock, self._cur() as c:
            rid = int(c.execute("SELECT coalesce(max(id), 0) + 1 FROM runs").fetchone()[0])
            c.execute("INSERT INTO runs VALUES (?, ?, ?, 'running', ?, NULL, 0, NULL)",
                      [rid, step, orjson.dumps(params).decode(), now()])
            return rid

    def finish_run(self, rid: int, status: str, rows: int, note: str = ""):
        with self._lock, self._cur() as c:
            c.execute("UPDATE runs SET status = ?, finished = ?, rows = ?, note = ? WHERE id = ?",
                      [status, now(), int(rows), note, rid])

    def runs(self):
        return self._df("SELECT * FROM runs ORDER BY id DESC")
