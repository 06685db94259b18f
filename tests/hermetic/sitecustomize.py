"""Installs the network guard at the start of every Python process the tests start.

tests/conftest.py puts this folder on PYTHONPATH, and Python imports `sitecustomize` at startup.
"""

import network_guard

network_guard.install()
