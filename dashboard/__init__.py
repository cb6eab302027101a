"""The web dashboard: server-rendered pages over the public APIs, with each user's token."""
