"""The EC2 front's rules: each action reads its parameters, calls the native services
through their clients with the caller's token, and answers EC2's structure. No HTTP."""
