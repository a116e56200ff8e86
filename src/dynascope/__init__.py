"""dynascope: train populations of recurrent networks on neuroscience tasks and open them up.

`import dynascope as ds` is cheap (no JAX): each layer is imported on first use, `ds.tasks`,
`ds.dynamics`, ... (PEP 562 module `__getattr__`); ARCHITECTURE.md describes the layers.
"""

from __future__ import annotations

import importlib
from typing import Any

from dynascope._cache import compilation_cache_dir, use_compilation_cache
from dynascope.errors import DynascopeError

# The persistent compilation cache, on by default ($DYNASCOPE_CACHE_DIR=off turns it off; see _cache.py).
use_compilation_cache(override=False)

__version__ = "0.1.0"

#: The layers `import dynascope as ds` exposes as attributes, imported when first touched.
LAYERS = ("tasks", "models", "train", "dynamics", "compare", "theory", "store", "data", "pipeline", "scale",
          "interop", "report")

__all__ = ["DynascopeError", "__version__", "compilation_cache_dir", *LAYERS]

def __getattr__(name: str) -> Any:
    if name in LAYERS:
        module = importlib.import_module(f"dynascope.{name}")
        globals()[name] = module  # later lookups skip this function
        return module
    raise AttributeError(f"module 'dynascope' has no attribute {name!r}; its layers are {', '.join(LAYERS)}.")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAYERS))
