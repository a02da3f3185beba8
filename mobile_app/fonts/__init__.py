"""The bundled CJK font (a subset of Noto Sans CJK SC, SIL OFL 1.1) and the script that makes it."""
