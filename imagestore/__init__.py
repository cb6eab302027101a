"""The image service: a Glance v2 compatible image registry (port 9292)."""
