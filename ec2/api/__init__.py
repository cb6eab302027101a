"""The EC2 Query API of the EC2 front: its one route (``dispatch``), signatures
(``auth``), XML (``xmlview``), state and error document (``base``), and the internal
id lookup compute uses (``internal``)."""
