"""Training: one short loop, with everything optional as a callback (STYLE.md 2)."""
