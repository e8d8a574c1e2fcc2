"""Device firmware bundles and flashing."""
