"""pytest plugin: cassette fixtures (placeholder until replay lands)."""
