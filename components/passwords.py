"""Generated credentials: alphabets that survive every place they travel, and the DB admin password."""

from __future__ import annotations

import pulumi
import pulumi_random as random

DATABASE_PASSWORD_SPECIALS = "!#$%&*()-_=+[]{}<>:?"
"""Specials RDS and Flexible Server accept (no '/', '@', '"' or space) that still need URL encoding."""
SAFE_SPECIALS = "-_.~!*()"
"""Specials for secrets that travel through env vars, shells and URLs unharmed."""


def database_admin_password(name: str, parent: pulumi.Resource) -> random.RandomPassword:
    """40-character admin password with every character class, generated once."""
    return random.RandomPassword(
        f"{name}-password",
        length=40,
        special=True,
        override_special=DATABASE_PASSWORD_SPECIALS,
        min_upper=2,
        min_lower=2,
        min_numeric=2,
        min_special=2,
        opts=pulumi.ResourceOptions(parent=parent),
    )
