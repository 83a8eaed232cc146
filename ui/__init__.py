"""The touch UI (pygame).

pygame's ``__init__`` imports ``pygame.pkgdata`` only so that packagers see it, and
pkgdata imports ``pkg_resources`` (deprecated; it scans every installed distribution,
~0.2 s of the kiosk's cold start) only to look for data files, with a fallback beside
the module that finds the same files. pygame is imported here once with
``pkg_resources`` hidden; later imports of ``pkg_resources`` work as usual.
"""

import os
import sys

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
if "pygame" not in sys.modules and "pkg_resources" not in sys.modules:
    sys.modules["pkg_resources"] = None  # type: ignore[assignment]  # ImportError inside pygame
    try:
        import pygame  # noqa: F401
    finally:
        del sys.modules["pkg_resources"]
