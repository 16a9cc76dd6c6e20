"""Every control as a registered rule; importing this package registers them all."""

from __future__ import annotations

import importlib
import pkgutil

from monitor.rules.base import RULES, Case, RuleSpec, ev, rule

for _mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _mod.name not in ("base",) and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["RULES", "Case", "RuleSpec", "ev", "rule"]
