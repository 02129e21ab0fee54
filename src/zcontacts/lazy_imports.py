"""Modules that the server's dependencies import but zcontacts never uses: loaded only if something uses them."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in sys.modules for a module not loaded yet. An `import` of it finds this (importlib reads only
    `__spec__`, which it has); the first attribute it lacks loads the real module, which takes its place in
    sys.modules, and every lookup is forwarded there. (The standard library's LazyLoader loads a module on
    any attribute, `__spec__` included, so the next `import` statement loads it.)"""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        super().__init__(spec.name)
        self.__spec__ = spec

    def __getattr__(self, attribute: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, attribute)


def defer(*names: str) -> None:
    """Load each named module, not imported yet, only when an attribute of it is first used. Litestar imports
    yaml for an OpenAPI YAML page that zcontacts does not serve (~0.03–0.05 s of every start) and pdb as its
    default debugger. A module that is not installed is left alone (its import still fails)."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is not None:
            sys.modules[name] = _Deferred(spec)
