"""Training pipelines that produce the servable, self-describing model versions in ``models/``.

Importing this package is cheap (no TensorFlow): heavy modules are imported by the
pipelines themselves. The model card they write is the top-level :mod:`modelcard`.
"""
