"""Training pipelines that produce the servable, self-describing model versions in ``models/``.

Importing this package is cheap (no TensorFlow): heavy modules are imported by the
pipelines themselves, so the service can use :mod:`training.card` without pulling in Keras.
"""
