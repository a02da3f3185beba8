"""The project package of DATA_FORMATS.md §1: specification, reading, validation and loading."""
