"""The D-TA itself: its secrets (encrypted at rest), identity key and Birth Record."""
