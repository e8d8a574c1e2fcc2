"""D-TA: a Distributed Trust Authority for fleets of constrained devices (host side)."""

__version__ = "0.1.0"
