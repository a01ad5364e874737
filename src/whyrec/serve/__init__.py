"""Serve stage: the HTTP API and web page over an artifact and the store."""
