"""The claims' ids and modules, in the tutorial's order (no imports: the CLI reads it at start-up).

>>> CLAIM_IDS[0], CLAIM_MODULES["memory-horizon"]
('weight-sharing', 'memory_horizon')
"""

from __future__ import annotations

__all__ = ["CLAIM_IDS", "CLAIM_MODULES"]

#: id -> module of :mod:`gradscope.claims` (one module per claim), in the tutorial's order
CLAIM_MODULES: dict[str, str] = {
    "weight-sharing": "weight_sharing",
    "jacobian-product": "jacobian_product",
    "eigenvalue-criterion": "eigenvalue_criterion",
    "linear-norm-bound": "linear_norm_bound",
    "orthogonal-preserves-norm": "orthogonal_preserves_norm",
    "clipping-direction": "clipping_direction",
    "memory-horizon": "memory_horizon",
    "truncated-bptt": "truncated_bptt",
    "tanh-saturation": "tanh_saturation",
}
CLAIM_IDS: tuple[str, ...] = tuple(CLAIM_MODULES)
