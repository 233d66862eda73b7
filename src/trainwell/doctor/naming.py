"""Human-readable names for the modules and parameters the hooks see.

The global hooks see module objects, not names; names come from the model roots, which are
the given model (``watch``) or, with no code change, the outermost modules that ran a
training forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

_UNIT_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)


class Naming:
    """Maps module and parameter objects to dotted names from their roots."""

    def __init__(self, roots: Iterable[torch.nn.Module] = ()) -> None:
        self.modules: dict[int, str] = {}
        self.params: dict[int, str] = {}
        # weights / biases of Linear and Conv layers -> id of their layer
        self.unit_params: dict[int, int] = {}
        self.roots: list[torch.nn.Module] = []
        self._param_lists: dict[tuple[int, ...], list[str]] = {}
        self.set_roots(list(roots))

    def set_roots(self, roots: list[torch.nn.Module]) -> None:
        self.roots = roots
        self._param_lists.clear()
        self.modules.clear()
        self.params.clear()
        self.unit_params.clear()
        for root in roots:
            prefix = type(root).__name__ if len(roots) > 1 else ""
            for mname, module in root.named_modules():
                full = ".".join(p for p in (prefix, mname) if p) or type(root).__name__
                self.modules.setdefault(id(module), full)
                for pname, p in module.named_parameters(recurse=False):
                    self.params.setdefault(id(p), f"{full}.{pname}" if mname or prefix else pname)
                    if isinstance(module, _UNIT_LAYERS):
                        self.unit_params[id(p)] = id(module)

    def discover(self, seen: Iterable[torch.nn.Module]) -> None:
        """Use the outermost of ``seen`` modules (those inside no other) as roots."""
        seen = list(seen)
        inner = {id(c) for m in seen for c in m.modules() if c is not m}
        self.set_roots([m for m in seen if id(m) not in inner])

    def module(self, module: torch.nn.Module) -> str:
        return self.modules.get(id(module), type(module).__name__)

    def param(self, p: torch.Tensor, index: int) -> str:
        return self.params.get(id(p), f"param[{index}]")

    def param_names(self, params: list[torch.Tensor]) -> list[str]:
        """:meth:`param` of each of ``params`` (an optimizer's list, named on every heavy
        step: cached per list until the roots change)."""
        key = tuple(map(id, params))
        names = self._param_lists.get(key)
        if names is None:
            if len(self._param_lists) >= 8:
                self._param_lists.clear()
            names = self._param_lists[key] = [self.param(p, i) for i, p in enumerate(params)]
        return names

    def root_params(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(self.params.get(id(p), "?"), p) for r in self.roots for p in r.parameters()]
