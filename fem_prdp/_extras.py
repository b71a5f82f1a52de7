"""Optional dependencies: one clear line naming the extra to install when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def require(module: str, extra: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import `module`, or raise `MissingExtraError` naming the extra that installs it (and
    the package itself: `package`, when its name on the index differs from the module's)."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        package = package or module.split(".")[0]
        raise MissingExtraError(f"{purpose} needs {package}, which is not installed: "
                                f'pip install "fem_prdp[{extra}]" (or pip install {package})') from err
