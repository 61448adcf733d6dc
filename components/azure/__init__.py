"""The Azure part: Flexible Server, Key Vault entries and workload identities; ``platform.build`` wires them."""
