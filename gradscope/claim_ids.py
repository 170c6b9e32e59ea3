"""The claims' ids, modules and sources (no imports: the CLI reads it at start-up).

Two sources: ``tutorial`` (the seed's nine claims, in the tutorial's order) and
``papers`` (the published cells' own statements about their gradients or
Jacobians, issue 20).

>>> CLAIM_IDS[0], CLAIM_MODULES["memory-horizon"], CLAIM_SOURCE["jordan-block-law"]
('weight-sharing', 'memory_horizon', 'papers')
"""

from __future__ import annotations

__all__ = [
    "ALL_CLAIM_IDS",
    "CLAIM_IDS",
    "CLAIM_MODULES",
    "CLAIM_SOURCE",
    "PAPER_CLAIM_IDS",
    "SOURCES",
    "ids_of_source",
]

#: id -> module of :mod:`gradscope.claims` (one module per claim), in the tutorial's order
_TUTORIAL: dict[str, str] = {
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
#: the papers' claims: id -> module, in the order they are reported
_PAPERS: dict[str, str] = {
    "jordan-block-law": "jordan_block_law",
    "antisymmetric-eigenvalues": "antisymmetric_eigenvalues",
    "indrnn-gradient-regulation": "indrnn_gradient_regulation",
    "cornn-gradient-bound": "cornn_gradient_bound",
    "lipschitz-stability": "lipschitz_stability",
}
#: every claim: id -> module (the tutorial's first, then the papers')
CLAIM_MODULES: dict[str, str] = {**_TUTORIAL, **_PAPERS}
#: the tutorial's claims, in the tutorial's order
CLAIM_IDS: tuple[str, ...] = tuple(_TUTORIAL)
#: the papers' claims
PAPER_CLAIM_IDS: tuple[str, ...] = tuple(_PAPERS)
#: every claim, the tutorial's first
ALL_CLAIM_IDS: tuple[str, ...] = CLAIM_IDS + PAPER_CLAIM_IDS
#: the sources a claim comes from, in the order they are reported
SOURCES: tuple[str, ...] = ("tutorial", "papers")
#: id -> its source
CLAIM_SOURCE: dict[str, str] = {
    **dict.fromkeys(CLAIM_IDS, "tutorial"),
    **dict.fromkeys(PAPER_CLAIM_IDS, "papers"),
}


def ids_of_source(source: str) -> tuple[str, ...]:
    """The ids of one source (``tutorial`` or ``papers``), or of ``all``.

    Raises
    ------
    ValueError
        For any other source (a :class:`gradscope.errors.ConfigError` is raised
        by the callers that name it to a user).

    Examples
    --------
    >>> ids_of_source("all") == CLAIM_IDS + PAPER_CLAIM_IDS
    True
    """
    if source == "all":
        return ALL_CLAIM_IDS
    if source == "tutorial":
        return CLAIM_IDS
    if source == "papers":
        return PAPER_CLAIM_IDS
    raise ValueError(f"unknown source {source!r}; choose from: tutorial, papers, all")
