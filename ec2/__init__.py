"""The EC2 front: the EC2 Query API (2016-11-15) on the native services.

A second front, never a second copy: every action calls the block store, the
image service, the networking service (and compute) through their clients with
a token identity issued for the EC2 credential that signed the request, so the
native policy decides and a volume made here is the one the native API shows.
The front keeps only what EC2 has and they do not: its ids and tags.
"""
