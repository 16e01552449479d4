"""Custom Keras layers shared by the pipelines (keras-io style ``Layer`` subclasses)."""

from __future__ import annotations

import keras
from keras import layers, ops


class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned position embedding (keras-io text transformer)."""

    def __init__(self, maxlen: int, vocab_size: int, embed_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim = maxlen, vocab_size, embed_dim
        self.token_emb = layers.Embedding(vocab_size, embed_dim, mask_zero=False)
        self.pos_emb = layers.Embedding(maxlen, embed_dim)

    def call(self, x):
        positions = ops.arange(0, ops.shape(x)[-1], 1)
        return self.token_emb(x) + self.pos_emb(positions)

    def get_config(self):
        return {
            **super().get_config(),
            "maxlen": self.maxlen,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
        }


class TransformerBlock(layers.Layer):
    """Multi-head self-attention and a feed-forward network, each with residual + norm."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        rate: float = 0.1,
        activation: str = "relu",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim // num_heads)
        self.ffn = keras.Sequential(
            [
                layers.Dense(ff_dim, activation=activation, kernel_regularizer=kernel_regularizer),
                layers.Dense(embed_dim, kernel_regularizer=kernel_regularizer),
            ]
        )
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.drop1 = layers.Dropout(rate)
        self.drop2 = layers.Dropout(rate)

    def call(self, inputs, training=False):
        attn = self.drop1(self.att(inputs, inputs), training=training)
        out1 = self.norm1(inputs + attn)
        ffn = self.drop2(self.ffn(out1), training=training)
        return self.norm2(out1 + ffn)


class SquaredError(layers.Layer):
    """Per-feature squared reconstruction error between two tensors of the same shape."""

    def call(self, inputs):
        target, reconstruction = inputs
        return ops.square(target - reconstruction)


def regularizer(l1: float, l2: float):
    """An L1/L2 weight penalty, or None when both are zero (keeps the graph lean)."""
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def optimizer(name: str, learning_rate: float):
    return {
        "sgd": lambda: keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(learning_rate=learning_rate),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=learning_rate),
    }[name]()


class PowerTransform(layers.Layer):
    """Element-wise ``max(x, 0) ** power``: a variance-stabilising transform and its inverse.

    Count-like series (sunspot numbers) vary more when they are large; ``power=0.5`` evens
    that out before the network sees them, and ``power=2.0`` maps forecasts back. Negative
    inputs clip to 0 so the inverse never turns a slightly negative forecast positive.
    """

    def __init__(self, power: float, **kwargs):
        super().__init__(**kwargs)
        self.power = power

    def call(self, x):
        x = ops.maximum(x, 0.0)
        # Exact kernels for the common cases: TensorFlow's graph optimiser rewrites pow(x, 2)
        # and pow(x, 0.5) into square/sqrt, so using them here keeps an exported SavedModel
        # bit-for-bit equal to the in-memory model.
        if self.power == 0.5:
            return ops.sqrt(x)
        if self.power == 2.0:
            return ops.square(x)
        return x if self.power == 1.0 else ops.power(x, self.power)

    def get_config(self):
        return {**super().get_config(), "power": self.power}


class ReconstructionScore(layers.Layer):
    """Anomaly score of an autoencoder from per-feature squared errors.

    Returns the mean squared error per row and each feature's share of it (rows sum to 1;
    a perfectly reconstructed row spreads its shares evenly rather than dividing by 0).
    """

    def call(self, squared_error):
        n_features = ops.shape(squared_error)[-1]
        total = ops.sum(squared_error, axis=-1, keepdims=True)
        shares = (squared_error + 1e-12) / (total + 1e-12 * ops.cast(n_features, total.dtype))
        return ops.mean(squared_error, axis=-1), shares


class WindowStandardize(layers.Layer):
    """Standardise each input window by its own mean and standard deviation.

    Reversible instance normalisation (Kim et al., 2022, "RevIN") without the learned
    affine: the network sees every window on the same scale and :class:`WindowRestore`
    puts its forecast back on the window's scale, so a series whose level or amplitude
    drifts beyond the training range (a stronger solar cycle) is forecast in familiar
    units. Input ``(batch, time, ...)``; returns the standardised window, its mean and its
    standard deviation (``(batch, 1, ...)`` each).
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        mean = ops.mean(x, axis=1, keepdims=True)
        std = ops.std(x, axis=1, keepdims=True) + self.epsilon
        return (x - mean) / std, mean, std

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


class WindowRestore(layers.Layer):
    """Undo :class:`WindowStandardize` on a ``(batch, horizon)`` output: ``y * std + mean``."""

    def call(self, inputs):
        y, mean, std = inputs
        return y * ops.reshape(std, (-1, 1)) + ops.reshape(mean, (-1, 1))
