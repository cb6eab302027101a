"""``python -m imagestore``: run the image service with the Strata configuration."""

from imagestore.server import main

if __name__ == "__main__":
    main()
