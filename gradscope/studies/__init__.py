"""Studies: what the commands compute, on top of the numeric layer.

Each study draws or loads its weights (:mod:`gradscope.init`, :mod:`gradscope.io_cells`),
runs the numeric kernels (:mod:`gradscope.numeric`) and returns a frozen record:

* :mod:`~gradscope.studies.bound` — the bound Π‖J_t‖ against the measured norms
  (``gradscope bound``), and its memory and time estimates;
* :mod:`~gradscope.studies.decay` — decay curves of ‖∂h_t/∂h_0‖ over weight scales;
* :mod:`~gradscope.studies.spectrum_report` — the spectrum of one run with its
  bounds and horizons (``gradscope spectrum``), and the size and time estimates;
* :mod:`~gradscope.studies.analyze` — the diagnosis of trained weights
  (``gradscope analyze``), a verdict per layer (its words are in
  :mod:`gradscope.report.analysis_text`);
* :mod:`~gradscope.studies.memory` — their memory curves (``analyze --plot``).

The layer order (DESIGN.md §2): ``model → numeric | symbolic → init, io → studies →
claims → report → sweep → cli``; nothing below imports a study.
"""

__all__ = ["analyze", "bound", "decay", "memory", "spectrum_report"]
