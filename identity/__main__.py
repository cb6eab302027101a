"""``python -m identity``: run the identity service with the Strata configuration."""

from identity.server import main

if __name__ == "__main__":
    main()
