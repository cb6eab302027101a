"""Keystone v3 compatible identity: tokens, catalog, projects, users, roles, EC2 credentials."""
