"""Timing shared by the light-network bench scripts (int8.py, memory_format.py)."""
import statistics
import time

import torch


def median_seconds(f, x, reps):
    """Median wall time of `reps` calls f(x) under no_grad, after one warm-up call (CPU: no
    device to synchronise)."""
    with torch.no_grad():
        f(x)
        times = []
        for _ in range(reps):
            s = time.perf_counter()
            f(x)
            times.append(time.perf_counter() - s)
    return statistics.median(times)
