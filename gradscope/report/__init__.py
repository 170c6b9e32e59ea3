"""Reports: tables, text, figures and documents (matplotlib is imported lazily).

* :mod:`~gradscope.report.table` — aligned text tables;
* :mod:`~gradscope.report.text` — the commands' text output;
* :mod:`~gradscope.report.figures`, :mod:`~gradscope.report.analysis_figure`,
  :mod:`~gradscope.report.sweep_figure` — the figures;
* :mod:`~gradscope.report.document` — the report folder's documents.
"""

__all__ = ["analysis_figure", "document", "figures", "sweep_figure", "table", "text"]
