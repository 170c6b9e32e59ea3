"""Reports: tables, and later figures and documents (matplotlib imported lazily)."""
