"""Shared pytest set-up. Fixtures live in tests/fixtures/<area>.py, one module per area,
registered here so every test directory sees them."""

pytest_plugins = [
    "tests.fixtures.log",
    "tests.fixtures.crypto",
    "tests.fixtures.services",
    "tests.fixtures.chain",
    "tests.fixtures.fleet",
    "tests.fixtures.flash",
    "tests.fixtures.oidc",
    "tests.fixtures.http",
    "tests.fixtures.issuance",
]
