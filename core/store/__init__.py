"""Store: one DuckDB file per workspace, and the only code that writes SQL (this package).

All values reach SQL as parameters. The connection is locked down after opening: no external file
access (imports are parsed in Python, exports written by Python) and a locked configuration, so a
filter can never read or write files or change settings.
"""
from core.store.base import ALL_COLUMNS, DB_NAME, LIST_COLUMNS, StoreBase, StoreError, merge_kind, now, safe_name
from core.store.imports import ImportsMixin, _FileWriter
from core.store.query import QueryMixin
from core.store.select import SelectMixin
from core.store.steps import StepsMixin
from core.store.tagedit import TagEditMixin
from core.store.tags import TagsMixin
from core.store.textindex import TextIndexMixin

__all__ = ["ALL_COLUMNS", "DB_NAME", "LIST_COLUMNS", "Store", "StoreError", "merge_kind", "now", "safe_name", "_FileWriter"]


class Store(StoreBase, ImportsMixin, QueryMixin, StepsMixin, TagsMixin, TagEditMixin, SelectMixin,
            TextIndexMixin):
    """One workspace's DuckDB file (see the modules of this package for each part)."""
