"""Peak (min/max) decimation of a curve to the pixel columns of a chart.

A 10,000-step past run drawn on a 600-pixel-wide chart puts ~16 points in each pixel column;
Qt strokes every one of them. Keeping only the lowest and highest value of each column draws
the same picture (a loss spike still reaches its peak) with ~2 points per column.
"""

from __future__ import annotations

import numpy as np


def peak_decimate(x: np.ndarray, y: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) reduced to the min and max of y in each column px wide on the x axis.

    x must be increasing. Each column becomes one stroke from its first x to its last x, between
    its min and max; the strokes alternate max->min and min->max, so the line joining two columns
    is short and the column is stroked once (Qt's cost grows with the pixels a path crosses).
    The first and last points' x, and the min and max of the whole curve, are kept. Non-finite
    values are skipped (a column with no finite value is dropped). Curves with no more than two
    points per column come back unchanged.
    """
    n = len(x)
    if px <= 0 or n < 3 or (x[-1] - x[0]) / px * 2 >= n:
        return x, y
    col = np.floor((x - x[0]) / px).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(col)) + 1))
    ends = np.concatenate((starts[1:], [n])) - 1
    finite = np.where(np.isfinite(y), y, np.nan)
    hi = np.fmax.reduceat(finite, starts)  # fmax/fmin skip NaN; all-NaN columns stay NaN
    lo = np.fmin.reduceat(finite, starts)
    keep = np.isfinite(hi)
    starts, ends, hi, lo = starts[keep], ends[keep], hi[keep], lo[keep]
    out_x = np.column_stack((x[starts], x[ends])).ravel()
    pairs = np.column_stack((hi, lo))
    pairs[1::2] = pairs[1::2, ::-1]
    return out_x, pairs.ravel()
