"""Calling an explainer's compiled function at the cost of its graph, not of its dispatch.

A `tf.function` call binds its arguments to the function's type, checks them against every
trace it holds and packs the outputs again: about 0.25 ms per call here with a fixed
`input_signature` and six outputs, more than a small model's backward pass. An explainer
validates its inputs before the call, so `SignatureFunction` looks each signature's
concrete function up once (on the first call that needs it: an explainer made but never
called traces nothing) and calls it directly from then on, after checking each argument's
dtype and shape against the signature itself (what the `tf.function` would have refused).

It can hold several signatures, most specific first: a call takes the first one its
arguments fit. Gradient CAMs add one for a single class per image (`class_index` of shape
`(N, 1)`), which needs one backward pass and no loop over classes (about 0.08 ms a call on
a small model); a call with several classes per image traces the general one once.
"""

import functools

import tensorflow as tf


class SignatureFunction:
    """A Python function of TF ops compiled once per signature and called through the
    concrete function of the first signature its arguments fit.

    Inside another `tf.function` (export, a caller's own graph) the call goes to that
    signature's `tf.function`, so the caller's graph holds it as usual.

    Args:
        function: The Python function (positional tensor arguments).
        signatures: Lists of `tf.TensorSpec`, most specific first; the last one is the
            general signature (export and `get_concrete_function()` use it).
        **options: Passed to `tf.function` (`jit_compile=`, `autograph=`).

    Example:
    >>> from tf_gradcam.compiled import SignatureFunction
    >>> double = SignatureFunction(lambda x: 2 * x, [[tf.TensorSpec([None], tf.float32)]])
    >>> double(tf.constant([1.0, 2.0])).numpy()
    array([2., 4.], dtype=float32)
    """

    def __init__(self, function, signatures, **options):
        self.signatures = [list(s) for s in signatures]
        # A `partial` each: TF's retracing warning counts traces per code object, and every
        # explainer (many of them in a loop, say) traces its own functions once.
        self.functions = [tf.function(functools.partial(function), input_signature=s, **options)
                          for s in self.signatures]
        self._concrete = [None] * len(self.signatures)

    @property
    def signature(self):
        """The general signature."""
        return self.signatures[-1]

    def __call__(self, *args):
        if len(args) != len(self.signature):
            raise TypeError(f"This function takes {len(self.signature)} arguments "
                            f"({', '.join(s.name for s in self.signature)}). Received: "
                            f"{len(args)} arguments")
        args = [_checked(arg, spec) for arg, spec in zip(args, self.signature)]
        index = next(i for i, specs in enumerate(self.signatures)
                     if all(s.shape.is_compatible_with(a.shape) for s, a in zip(specs, args)))
        if not tf.executing_eagerly():
            return self.functions[index](*args)
        if self._concrete[index] is None:
            self._concrete[index] = self.functions[index].get_concrete_function(
                *self.signatures[index])
        return self._concrete[index](*args)

    def get_concrete_function(self, *specs):
        """The general signature's concrete function (its `tf.function`'s, for `specs`)."""
        return self.functions[-1].get_concrete_function(*specs)

    def experimental_get_tracing_count(self):
        """Traces so far, of all signatures together."""
        return sum(f.experimental_get_tracing_count() for f in self.functions)


def _checked(value, spec):
    """`value` as a tensor of `spec`'s dtype and a compatible shape, else the error."""
    tensor = value if tf.is_tensor(value) else tf.convert_to_tensor(value, spec.dtype)
    if tensor.dtype != spec.dtype:
        raise TypeError(f"Argument `{spec.name}` must be a {spec.dtype.name} tensor. "
                        f"Received: {spec.name} with dtype {tensor.dtype.name}")
    if not spec.shape.is_compatible_with(tensor.shape):
        raise ValueError(f"Argument `{spec.name}` must have shape {spec.shape} (None: any "
                         f"size). Received: {spec.name} with shape {tensor.shape}")
    return tensor
