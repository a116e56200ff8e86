"""The memory budget that training, the fixed-point search and the pairwise comparison chunk their work by.

A budget is a `memory_budget=` keyword, else $DYNASCOPE_MEMORY_BUDGET (`ENV_VAR`; e.g. `200MB`, `1.5GB`,
`4GiB`), else a share of the device's free memory; work larger than it is cut into chunks of items whose
results do not depend on the chunking. The implementation lives in `dynascope._memory`; this is its public
face (importing it imports no JAX).
"""

from dynascope._memory import ENV_VAR, Budget, available_memory, chunk_size, format_bytes, memory_budget, parse_bytes

__all__ = ["ENV_VAR", "Budget", "available_memory", "chunk_size", "format_bytes", "memory_budget", "parse_bytes"]
