"""``python -m blockstore``: run the block store with the Strata configuration."""

from blockstore.server import main

if __name__ == "__main__":
    main()
