"""``python -m objectstore --node N``: run local storage node N."""

from objectstore.server import main

if __name__ == "__main__":
    main()
