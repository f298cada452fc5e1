"""Map regions: a box or lasso drawn on the 2-D map -> which points lie inside (pure numpy).

A region is plain data, so it can live in the UI's state, be described in words and be replayed:
``{"box": [[x0, x1], [y0, y1]]}`` or ``{"lasso": [[x, ...], [y, ...]]}``, or a list of such shapes (union).
"""
from __future__ import annotations

import numpy as np


def from_plotly(selection: dict | None) -> list[dict]:
    """Shapes of a Streamlit plotly selection event (``event.selection``): its boxes and lassos."""
    if not selection:
        return []
    shapes = []
    for b in selection.get("box") or []:
        xs, ys = b.get("x") or [], b.get("y") or []
        if len(xs) >= 2 and len(ys) >= 2:
            shapes.append({"box": [[float(min(xs)), float(max(xs))], [float(min(ys)), float(max(ys))]]})
    for la in selection.get("lasso") or []:
        xs, ys = la.get("x") or [], la.get("y") or []
        if len(xs) >= 3 and len(xs) == len(ys):
            shapes.append({"lasso": [[float(v) for v in xs], [float(v) for v in ys]]})
    return shapes


def _in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd ray casting, vectorised over the points, looping over the polygon's edges."""
    inside = np.zeros(len(x), dtype=bool)
    j = len(px) - 1
    for i in range(len(px)):
        xi, yi, xj, yj = px[i], py[i], px[j], py[j]
        if yi != yj:
            crosses = (yi > y) != (yj > y)
            xcross = (xj - xi) * (y - yi) / (yj - yi) + xi
            inside ^= crosses & (x < xcross)
        j = i
    return inside


def mask(x, y, shapes) -> np.ndarray:
    """Boolean mask of the points inside any of the shapes."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.zeros(len(x), dtype=bool)
    for s in ([shapes] if isinstance(shapes, dict) else shapes or []):
        if "box" in s:
            (x0, x1), (y0, y1) = s["box"]
            out |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        elif "lasso" in s:
            px, py = (np.asarray(v, dtype=np.float64) for v in s["lasso"])
            if len(px) >= 3:
                sel = ~out  # only test points not already inside
                out[sel] |= _in_polygon(x[sel], y[sel], px, py)
    return out


def describe(shapes) -> str:
    kinds = [("box" if "box" in s else "lasso") for s in ([shapes] if isinstance(shapes, dict) else shapes or [])]
    if not kinds:
        return "map region"
    return "map region (" + " + ".join(kinds) + ")"
