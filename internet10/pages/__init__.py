"""HTML pages: French and English, usable without JavaScript."""
