"""The Android build's entry point (buildozer starts ``main.py`` in source.dir): the field crew's app."""

import sys

from mobile_app.__main__ import main

sys.exit(main([]))
