"""Ready cluster descriptions (YAML), shipped as package data."""
