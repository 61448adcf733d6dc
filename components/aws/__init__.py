"""The AWS part: RDS PostgreSQL, Secrets Manager entries and the IRSA role; ``platform.build`` wires them."""
