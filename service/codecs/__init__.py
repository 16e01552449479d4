"""Wire formats <-> numpy: each codec only parses and shapes, never infers."""
