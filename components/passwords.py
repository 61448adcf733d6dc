"""Generated credentials: alphabets that survive every place they travel, and the DB admin password."""

from __future__ import annotations

import pulumi
import pulumi_random as random

DATABASE_PASSWORD_SPECIALS = "!#$%&*()-_=+[]{}<>:?"
"""Specials RDS and Flexible Server accept (no '/', '@', '"' or space) that still need URL encoding."""
SAFE_SPECIALS = "-_.~!*()"
"""Specials for secrets that travel through env vars, shells and URLs unharmed."""


def generation_keepers(generation: int) -> dict[str, str] | None:
    """``keepers`` that regenerate a random value when ``generation`` is bumped (none for the first one,
    so stacks created before rotation existed keep their values)."""
    return None if generation == 1 else {"generation": str(generation)}


def database_admin_password(name: str, parent: pulumi.Resource, generation: int = 1) -> random.RandomPassword:
    """40-character admin password with every character class; a new one for each ``generation``."""
    return random.RandomPassword(
        f"{name}-password",
        length=40,
        special=True,
        override_special=DATABASE_PASSWORD_SPECIALS,
        min_upper=2,
        min_lower=2,
        min_numeric=2,
        min_special=2,
        keepers=generation_keepers(generation),
        opts=pulumi.ResourceOptions(parent=parent),
    )
