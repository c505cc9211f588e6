"""The kernel seam's portable references: each hot operation written once, against the Array
API standard, as plain functions of arrays.

A backend may replace any of them with a faster one of its own — one method of
:class:`xpnn.backends.Backend` per operation, whose default calls the function here (NumPy
with fewer passes, CuPy with one kernel) — and every replacement is tested against these.
The layers and optimizers call the backend's methods and never learn which one they got.

=====================  ============================================  ==========================
module                 operations                                    used by
=====================  ============================================  ==========================
:mod:`.conv`           ``patches`` (im2col), ``patches_adjoint``      Convolution
                       (col2im)
:mod:`.pool`           ``maxpool_forward``, ``maxpool_backward``     Pooling
:mod:`.activation`     ``bias_act``, ``act_forward``,                Affine, Convolution,
                       ``act_backward``                              Relu, Sigmoid, Tanh
:mod:`.softmax`        ``softmax_xent``, ``softmax_xent_backward``   SoftmaxWithLoss
:mod:`.batchnorm`      ``batchnorm_forward``, ``batchnorm_backward``  BatchNormalization
:mod:`.dropout`        ``dropout_forward``                           Dropout
:mod:`.conv_pool`      ``PoolOrderedConv``: a first convolution, its  ConvReluPool
                       ReLU and a side-by-side pooling as one block
=====================  ============================================  ==========================

The optimizer rules are the seam's last operation; their portable formulas live with the
optimizers (``Optimizer.apply``), since a rule *is* its optimizer.

Why here and not beside each layer: a backend's default method calls the reference, and
backends sit below layers (layers import backends, never the reverse), so the references sit
below both. Nothing here imports anything of xpnn but :mod:`xpnn._array_api`.
"""
