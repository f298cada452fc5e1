"""Arrays derived from installed model files, kept on disk so that each worker process of an import loads
them in milliseconds instead of rebuilding them (decompressing py3langid's model, building the tokenizer's
vocabulary trie). The cache lives in SIFT_CACHE_DIR (default ~/.cache/sift/arrays); an entry's name
carries a hash of everything it was built from, so a changed model or a new format never reads a stale
one. Where the cache cannot be written, arrays are simply built in memory each time.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = 1  # bump when what the builders produce changes


def cache_dir() -> Path:
    return Path(os.environ.get("SIFT_CACHE_DIR") or Path.home() / ".cache" / "sift") / "arrays"


def file_key(path) -> str:
    """Identity of a source file: path, size and modification time."""
    st = os.stat(path)
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def cached(name: str, key: str, build) -> dict:
    """``build()`` -> {name: ndarray}, from the cache when an entry for (name, key) is there."""
    digest = hashlib.sha256(f"{FORMAT}\n{name}\n{key}".encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}-{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError):
        pass
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)  # atomic: readers see a whole entry or none
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass
    return arrays
