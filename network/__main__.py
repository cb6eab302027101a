"""``python -m network``: run the networking service with the Strata configuration."""

from network.server import main

if __name__ == "__main__":
    main()
