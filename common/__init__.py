"""Code every Strata service shares: configuration, HTTP plumbing, databases, the CLI."""
