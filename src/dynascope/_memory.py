"""The memory budget, in one place: how many bytes a compiled program may use, and how many items (networks,
pairs of networks) one call may therefore take.

Training, the fixed-point search and the pairwise comparison each know what one item costs (from the shapes);
this module knows what there is to spend: the device's free memory (an accelerator's own statistics; on a
CPU the machine's memory or its container's limit), or the budget the user gives — a `memory_budget=`
keyword, else $DYNASCOPE_MEMORY_BUDGET (e.g. `200MB`, `1.5GB`, `4GiB`). Work larger than the budget is cut
into chunks of items (`chunk_size`) whose results do not depend on the chunking.

JAX is imported only when the device is asked, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from pathlib import Path
from typing import Any

from dynascope.errors import ConfigError

__all__ = ["ENV_VAR", "Budget", "available_memory", "chunk_size", "format_bytes", "memory_budget", "parse_bytes"]

#: The environment variable that sets the budget for every chunked computation of a process.
ENV_VAR = "DYNASCOPE_MEMORY_BUDGET"
#: Share of the device's memory chunks are sized to when the budget is measured rather than given: the
#: per-item estimates are lower bounds (training's is 0.5–1.0 of what XLA allocates, see train/memory.py),
#: and on a CPU the number is the machine's whole memory, which other processes share.
AUTO_FRACTION = 0.5

_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_bytes(value: int | float | str, *, name: str = "memory_budget") -> int:
    """Bytes in a memory size given as a number or a string.

    Args:
        value: a positive number of bytes, or a string such as '200MB', '1.5 GB', '4GiB', '512k'
            (decimal kB/MB/GB/TB, binary KiB/MiB/GiB/TiB, case ignored).
        name: the argument (or variable) the value came from, for the error message.

    Returns:
        Bytes, an int ≥ 1.

    Raises:
        ConfigError: zero, a negative size, an unknown unit, a bool or a non-number, naming `name`, the
        value and the accepted forms.
    """
    bytes_: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        bytes_ = float(value)
    elif isinstance(value, str):
        m = _SIZE.match(value)
        if m is not None and m.group(3).lower() in _UNITS:
            bytes_ = float(m.group(1)) * 10 ** int(m.group(2) or 0) * _UNITS[m.group(3).lower()]
    if bytes_ is None or not math.isfinite(bytes_) or bytes_ < 1:
        raise ConfigError(
            f"{name} must be a positive memory size such as 200MB, 1.5GB or 4GiB (or a number of bytes), "
            f"got {value!r}; fix it{' or unset it' if name == ENV_VAR else ''}."
        )
    return int(bytes_)


def available_memory(device: Any = None) -> tuple[int | None, str]:
    """(bytes a program can use on `device` — default: JAX's first device —, where that number comes from).

    An accelerator reports its limit and use (`device.memory_stats()`: bytes_limit − bytes_in_use). On a
    CPU it is the machine's physical memory (`os.sysconf`: SC_PHYS_PAGES × SC_PAGE_SIZE), or the
    container's memory limit (cgroup v2 `memory.max`) where that is lower. None where neither is known.
    """
    import jax

    device = device if device is not None else jax.devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)), f"{device.platform} device memory"
    if device.platform != "cpu":
        return None, f"{device.platform} device (no memory statistics)"
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None, "this machine (its memory size is unknown)"
    limit = _cgroup_limit()
    if limit is not None and limit < total:
        return limit, "the container's memory limit"
    return int(total), "this machine's memory"


def _cgroup_limit(path: Path = Path("/sys/fs/cgroup/memory.max")) -> int | None:
    """The cgroup v2 memory limit in bytes, or None (no limit, 'max', or no cgroup v2)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


@dataclasses.dataclass(frozen=True)
class Budget:
    """What a computation may spend: `total` bytes (None: unknown, nothing is chunked), described by `where`
    (for error messages); `given` when the user set it (keyword or $DYNASCOPE_MEMORY_BUDGET)."""

    total: int | None
    where: str
    given: bool

    @property
    def usable(self) -> int | None:
        """Bytes chunks are sized to: a given budget whole, a measured one's AUTO_FRACTION."""
        if self.total is None:
            return None
        return self.total if self.given else int(self.total * AUTO_FRACTION)


def memory_budget(budget: int | float | str | Budget | None = None, *, device: Any = None) -> Budget:
    """The budget to chunk by.

    `budget` if given, else $DYNASCOPE_MEMORY_BUDGET if set, else the free memory of `device`
    (`available_memory`), of which only AUTO_FRACTION is used.

    Args:
        budget: bytes or a size string (see `parse_bytes`), a `Budget` (returned as is), or None.
        device: the JAX device measured when nothing is given (None: JAX's first device).

    Returns:
        `Budget` (`total` None when the memory is unknown).

    Raises:
        ConfigError: `budget` or $DYNASCOPE_MEMORY_BUDGET is not a positive memory size.
    """
    if isinstance(budget, Budget):
        return budget
    if budget is not None:
        total = parse_bytes(budget, name="memory_budget")
        return Budget(total, "the memory budget (memory_budget=)", True)
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        total = parse_bytes(text, name=ENV_VAR)
        return Budget(total, f"the memory budget (${ENV_VAR})", True)
    total, where = available_memory(device)
    return Budget(total, where, False)


def chunk_size(per_item_bytes: int, n_items: int, budget: int | float | str | Budget | None = None, *,
               most: int | None = None) -> int:
    """Items per chunk: as many of `n_items` as fit in the budget's usable bytes.

    At least 1 (one item is the smallest piece of work; whether it fits at all is the caller's question)
    and at most `most` where given. An unknown budget chunks nothing (all `n_items`, capped by `most`).

    Args:
        per_item_bytes: bytes one item needs.
        n_items: items to split into chunks.
        budget: bytes, a size string, a `Budget`, or None (see `memory_budget`).
        most: the largest chunk allowed, or None.

    Returns:
        Items per chunk, an int ≥ 1.

    Raises:
        ConfigError: a `budget` (or $DYNASCOPE_MEMORY_BUDGET) that is not a positive memory size.
    """
    n_items = max(1, int(n_items))
    cap = n_items if most is None else max(1, min(n_items, int(most)))
    usable = memory_budget(budget).usable
    if usable is None:
        return cap
    return max(1, min(cap, usable // max(1, int(per_item_bytes))))


def format_bytes(n: float) -> str:
    """A byte count as text in decimal units, e.g. '1.2 GB' ('512 B' below 1 kB).

    Args:
        n: bytes.

    Returns:
        The text.
    """
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover  (the loop returns)
