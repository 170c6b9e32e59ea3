"""The zoo's cell names and modules, in the issue's order (no imports: read at CLI start-up).

>>> ZOO_NAMES[0], ZOO["s6"]
('indrnn', 's6')
"""

from __future__ import annotations

__all__ = ["ZOO", "ZOO_NAMES"]

#: name -> module of :mod:`gradscope.model.zoo` (one module per published cell)
ZOO: dict[str, str] = {
    "indrnn": "indrnn",
    "antisymmetric": "antisymmetric",
    "cornn": "cornn",
    "lipschitz": "lipschitz",
    "mingru": "mingru",
    "s6": "s6",
    "jordan": "jordan",
}
ZOO_NAMES: tuple[str, ...] = tuple(ZOO)
