"""``python -m dashboard``: run the web dashboard with the Strata configuration."""

from dashboard.server import main

if __name__ == "__main__":
    main()
