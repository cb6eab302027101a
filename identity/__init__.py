"""Keystone v3 compatible identity service: tokens, catalog, projects, users, roles, EC2 credentials."""
