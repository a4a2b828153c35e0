"""A user's layers in, normalised and checked."""
