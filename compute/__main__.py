"""``python -m compute``: run the compute service with the Strata configuration."""

from compute.server import main

if __name__ == "__main__":
    main()
