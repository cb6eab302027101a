"""``python -m ec2``: run the EC2 front with the Strata configuration."""

from ec2.server import main

if __name__ == "__main__":
    main()
