"""One module per report section, in the report's order; each turns :class:`RunFiles` into
the plain values its template part shows (numbers, tables, figures)."""
