"""Screens: the dashboard (default), modals, and the pushed tool screens."""
