"""providers/local."""
