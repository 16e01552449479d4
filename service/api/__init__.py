"""HTTP blueprints; each only parses requests and shapes responses."""
