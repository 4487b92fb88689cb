"""One widget per pane; each renders only from engine data handed to it."""
