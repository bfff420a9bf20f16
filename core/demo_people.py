"""Made-up names and e-mail addresses (reserved example domains) for the demo shop."""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannah", "Ilias", "Jonas",
    "Katharina", "Leon", "Mia", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Sofia", "Tim",
    "Ursula", "Valentin", "Wiebke", "Xaver", "Yasmin", "Zoe", "Emil", "Lina", "Mats", "Nele",
    "Oskar", "Pia", "Rafael", "Sarah", "Theo", "Luisa", "Milan", "Ida", "Aylin", "Lukas",
)
LAST_NAMES = (
    "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
    "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schroeder", "Neumann",
    "Schwarz", "Braun", "Zimmermann", "Krueger", "Hartmann", "Lange", "Werner", "Krause",
    "Lehmann", "Koehler", "Yilmaz", "Kaya", "Nowak", "Kowalski", "Rossi", "Jansen", "Peters",
    "Vogel", "Jung", "Franke", "Berger", "Roth", "Beck", "Lorenz",
)
#: Reserved for documentation (RFC 2606 / RFC 6761): no real mailbox can receive these.
DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "post.example")
DOMAIN_SHARES = (0.35, 0.25, 0.2, 0.12, 0.08)


def name_and_email(rng: np.random.Generator, used: set[str]) -> tuple[str, str, str]:
    """Return a first name, last name and an e-mail address nobody in ``used`` has yet."""
    first = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
    last = LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]
    domain = DOMAINS[int(np.searchsorted(np.cumsum(DOMAIN_SHARES), rng.random()))]
    style = int(rng.integers(4))
    local = (f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last}",
             f"{first}_{last}")[style].lower()
    email = f"{local}@{domain}"
    while email in used:
        email = f"{local}{int(rng.integers(1, 1000))}@{domain}"
    used.add(email)
    return first, last, email


def vary_case(rng: np.random.Generator, email: str, *, force: bool = False) -> str:
    """Return the address as a person might type it again: other case, stray spaces."""
    if not force and rng.random() < 0.5:
        return email
    local, domain = email.split("@")
    style = int(rng.integers(3))
    if style == 0:
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.upper()
    if style == 1:
        return f" {email.upper()} "
    return f"{local.capitalize()}@{domain} "
