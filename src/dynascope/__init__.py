"""dynascope: train populations of recurrent networks on neuroscience tasks and open them up."""

from dynascope.errors import DynascopeError

__version__ = "0.1.0"

__all__ = ["DynascopeError", "__version__"]
