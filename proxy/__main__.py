"""``python -m proxy``: run the Swift v1 proxy with the Strata configuration."""

from proxy.server import main

if __name__ == "__main__":
    main()
