"""Keeps the tests off the network; see network_guard.py."""
