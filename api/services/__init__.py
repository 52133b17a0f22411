"""The API's service layer: what handlers call, kept apart from HTTP routing (turns, uploads,
the compiled graphs)."""
