"""`load_model`: the one loader for `.keras` files, Keras 2 `.h5` files and SavedModels.

Keras 3 opens `.keras` files and the `.h5` files it wrote itself; models saved by Keras 2
(`tf.keras` up to TF 2.15, or `tf_keras`) often fail: a `DepthwiseConv2D` carries a `groups`
key Keras 3 rejects, a `SeparableConv2D` carries `kernel_*` keys, MobileNetV3 names layers
`Conv/BatchNorm` (Keras 3 forbids `/`), a nested base model is referenced by Keras 2's
node numbering, and `x / 127.5 - 1` on a tensor is a `TFOpLambda` Keras 3 does not have. Here the model config is read from the HDF5 file as data, fixed
(`keras2_config`), written into a temporary copy of the file and opened by Keras' own loader
with safe mode on: no code from the file is ever executed (a `Lambda` layer is refused; a
`TFOpLambda` becomes a `TensorFlowOp` only for a fixed list of elementwise ops).

A Keras 2 SavedModel directory (what TF Serving hosts) is rebuilt as a Keras 3 model when
`tf_keras` is installed (`pip install "tf_gradcam[legacy]"`) and the SavedModel carries Keras
metadata; the rebuilt model must reproduce the SavedModel's own serving signature on a probe
batch. Otherwise it is wrapped in `keras.layers.TFSMLayer`: `Occlusion` works, gradient
methods cannot see its layers and say so (`hidden_layers_hint`).
"""

import contextlib
import copy
import json
import os
import pathlib
import shutil
import tempfile
import warnings

import keras
import numpy as np

#: Keys Keras 2 wrote that the Keras 3 layer does not accept (nor needs: values are defaults).
_EXTRA_KEYS = {
    "DepthwiseConv2D": ("groups",),
    "SeparableConv2D": ("groups", "kernel_initializer", "kernel_regularizer",
                        "kernel_constraint"),
    "SeparableConv1D": ("groups", "kernel_initializer", "kernel_regularizer",
                        "kernel_constraint"),
    "Conv1DTranspose": ("groups",),
    "Conv2DTranspose": ("groups",),
    "Conv3DTranspose": ("groups",),
    "SpatialDropout1D": ("trainable", "noise_shape"),
    "SpatialDropout2D": ("trainable", "noise_shape"),
    "SpatialDropout3D": ("trainable", "noise_shape"),
}
#: Keras 2 layers that wrap Python code or TensorFlow calls: never deserialised from a file.
_CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")
#: TensorFlow functions called on a Keras 2 tensor (a `TFOpLambda`, e.g. `x / 127.5 - 1` or
#: `preprocess_input` inside the model) rebuilt as `TensorFlowOp` layers: the Keras 3 op, by
#: name from this list (never looked up in TensorFlow), with the call's constant arguments.
_TF_OPS = {
    "math.truediv": lambda x, y: keras.ops.divide(x, y),
    "math.divide": lambda x, y: keras.ops.divide(x, y),
    "math.multiply": lambda x, y: keras.ops.multiply(x, y),
    "__operators__.add": lambda x, y: keras.ops.add(x, y),
    "math.add": lambda x, y: keras.ops.add(x, y),
    "math.subtract": lambda x, y: keras.ops.subtract(x, y),
    "nn.relu": lambda x: keras.ops.relu(x),
    "nn.relu6": lambda x: keras.ops.relu6(x),
    "math.sigmoid": lambda x: keras.ops.sigmoid(x),
    "nn.sigmoid": lambda x: keras.ops.sigmoid(x),
    "nn.silu": lambda x: keras.ops.silu(x),
    "nn.swish": lambda x: keras.ops.silu(x),
    "math.tanh": lambda x: keras.ops.tanh(x),
}
_MODELS = ("Functional", "Model", "Sequential")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
#: Probe check of a rebuilt SavedModel: |keras - signature| <= ATOL + RTOL * |signature|.
ATOL, RTOL = 1e-4, 1e-3


class TensorFlowOp(keras.layers.Layer):
    """A TensorFlow function a Keras 2 model called on a tensor (`TFOpLambda`), as the Keras 3
    op of the same name with the call's constant arguments (`x / 127.5`: `y=127.5`).

    Args:
        function: The TensorFlow function's name, as Keras 2 stored it (`"math.truediv"`);
            one of a fixed list.
        constants: The call's keyword arguments other than the tensor, numbers or nested
            lists of numbers. Defaults to `None` (none).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    def __init__(self, function, constants=None, **kwargs):
        super().__init__(**kwargs)
        if function not in _TF_OPS:
            raise ValueError(f"Unsupported TensorFlow function {function!r}; supported: "
                             f"{sorted(_TF_OPS)}. Received: function={function!r}")
        self.function, self.constants = function, dict(constants or {})

    def call(self, inputs):
        constants = {k: keras.ops.cast(v, inputs.dtype) for k, v in self.constants.items()}
        return _TF_OPS[self.function](inputs, **constants)

    def get_config(self):
        return {**super().get_config(), "function": self.function,
                "constants": self.constants}


def keras2_hard_sigmoid(x):
    """Keras 2's `hard_sigmoid`, `clip(0.2 * x + 0.5, 0, 1)`: Keras 3's of the same name is
    `relu6(x + 3) / 6`, so a Keras 2 layer with `activation="hard_sigmoid"` gets this one."""
    return keras.ops.clip(0.2 * x + 0.5, 0.0, 1.0)


#: What a fixed Keras 2 config may name that Keras 3 does not have.
_CUSTOM_OBJECTS = {"TensorFlowOp": TensorFlowOp, "keras2_hard_sigmoid": keras2_hard_sigmoid}


class _CodeLayerError(ValueError):
    """A layer holds code; a SavedModel holding one is wrapped instead of rebuilt."""


class SavedModelWarning(UserWarning):
    """A SavedModel was wrapped in `TFSMLayer`: only model-agnostic methods can explain it."""


def load_model(path, *, compile=False, custom_objects=None,
               call_endpoint="serving_default"):
    """Load a model to explain: a `.keras` file, a Keras 2 `.h5` file or a SavedModel.

    Keras 2 `.h5` files get their config fixed for Keras 3 first (see `keras2_config`);
    safe mode stays on, so nothing from the file is executed. A Keras 2 SavedModel directory
    is rebuilt as a Keras 3 model when `tf_keras` is installed (the `legacy` extra) and it
    carries Keras metadata, and checked against its own serving signature on a probe batch;
    any other SavedModel is wrapped in `keras.layers.TFSMLayer` (a `SavedModelWarning` says
    so): `Occlusion` explains it, gradient methods raise an error that says why.

    Args:
        path: A `.keras` or `.h5` file, or a SavedModel directory.
        compile: Whether to compile the model from its saved training config (`.keras` and
            `.h5` only). Defaults to `False`.
        custom_objects: Custom layers and functions, by name, as for
            `keras.saving.load_model`. Defaults to `None`.
        call_endpoint: The SavedModel signature a wrapped or checked SavedModel is called
            through. Defaults to `"serving_default"`.

    Returns:
        A Keras 3 model.

    Raises:
        ValueError: No such file, a file or directory of no known model format, a weights-only
            file, a layer that holds code (`Lambda`), or a rebuilt SavedModel whose
            predictions differ from its signature's.
        TypeError: `path` is not a string or path.

    Example:
    >>> model.save("model.keras")
    >>> tfg.load_model("model.keras").count_params() == model.count_params()
    True
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a string or a path to a model file or SavedModel "
                        f"directory. Received: path={path!r}")
    path = pathlib.Path(path)
    if path.is_dir():
        if compile:
            raise ValueError("`compile=True` is not supported for a SavedModel: compile the "
                             f"returned model yourself. Received: path='{path}'")
        return _load_saved_model(path, custom_objects, call_endpoint)
    if not path.is_file():
        raise ValueError(f"No model file or SavedModel directory at this path. Pass a "
                         f"`.keras` or `.h5` file or a SavedModel directory. "
                         f"Received: path='{path}'")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == _HDF5_SIGNATURE:
        return _load_h5(path, compile, custom_objects)
    if head.startswith(_ZIP_SIGNATURE):
        return _keras_load(path, compile, custom_objects, suffix=".keras")
    raise ValueError(f"The file is neither a `.keras` archive nor an HDF5 (`.h5`) file "
                     f"(it starts with {head!r}); it may be truncated or of another format. "
                     f"Received: path='{path}'")


def keras2_config(config):
    """A model config written by Keras 2, fixed so that Keras 3 can build it.

    Drops the keys Keras 3 layers reject (`groups` of `DepthwiseConv2D`, `groups` and
    `kernel_*` of `SeparableConv2D`), renames layers whose name holds a `/` (`/` -> `_`,
    with every reference to them) and renumbers references to a nested model's calls
    (Keras 2 counts the node a model makes when it is built), turns `TFOpLambda`s of a
    fixed list of elementwise ops into `TensorFlowOp` layers, mixed-precision `Policy`
    dicts into their names and Keras 2's `hard_sigmoid` (`0.2 x + 0.5`) into
    `keras2_hard_sigmoid` (Keras 3's is `x / 6 + 0.5`). Pure: the argument is not modified.

    Args:
        config: The model config (`{"class_name": ..., "config": ...}`), as stored in an
            `.h5` file's `model_config` attribute.

    Returns:
        The fixed config (a new dict).

    Raises:
        ValueError: A layer holds Python code or TensorFlow calls (`Lambda`, `TFOpLambda`):
            tf_gradcam never executes code from a file.
    """
    config = copy.deepcopy(config)
    _fix_layer(config)
    return config


@contextlib.contextmanager
def hidden_layers_hint(model):
    """Add why and what to do to a layer error raised inside, when `model` wraps a
    SavedModel (`keras.layers.TFSMLayer`): its layers are hidden inside it.

    The engine resolves the explained layer inside this context; other models' errors pass
    through unchanged.
    """
    try:
        yield
    except ValueError as err:
        if not _wraps_saved_model(model):
            raise
        text, _, received = str(err).rpartition("Received:")
        raise ValueError(
            f"{text}The model wraps a SavedModel (`keras.layers.TFSMLayer`), whose layers are "
            f"hidden inside it, so gradient methods cannot reach a feature map. Install the "
            f"`legacy` extra (`pip install \"tf_gradcam[legacy]\"`) so that `tfg.load_model` "
            f"rebuilds a Keras 2 SavedModel as a Keras model, re-save the model with Keras 3 "
            f"(`model.save('model.keras')`), or explain it with `tfg.Occlusion`, which needs "
            f"no layer. Received:{received}") from err


def _wraps_saved_model(model):
    stack = [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.TFSMLayer):
            return True
        stack.extend(getattr(layer, "layers", None) or [])
    return False


# --------------------------------------------------------------------------- config fixes

def _fix_layer(entry):
    """Fix one layer entry (`{"class_name", "config", ...}`) in place, models recursively."""
    class_name = entry.get("class_name")
    layer_config = entry.get("config")
    if not isinstance(layer_config, dict):
        return
    if class_name in _CODE_LAYERS:
        raise _CodeLayerError(
            f"Layer '{layer_config.get('name')}' is a `{class_name}`: it holds Python code "
            f"or TensorFlow calls, which tf_gradcam never executes from a file (Keras' safe "
            f"mode; of `TFOpLambda`s, only elementwise {sorted(_TF_OPS)} with constant "
            f"arguments are rebuilt). Rebuild the model in code (replace the `{class_name}` "
            f"with a Keras 3 "
            f"layer), load the weights with `model.load_weights(path)`, and save it as "
            f"`.keras`. Received: layer={layer_config.get('name')!r}")
    for key in _EXTRA_KEYS.get(class_name, ()):
        layer_config.pop(key, None)
    if class_name == "LeakyReLU" and "alpha" in layer_config:  # Keras 3: negative_slope
        layer_config["negative_slope"] = layer_config.pop("alpha")
    if str(class_name).startswith("Random"):  # RandomFlip, RandomRotation, ...: Keras 2 only
        layer_config.pop("rng_type", None)
    dtype = layer_config.get("dtype")
    if isinstance(dtype, dict) and dtype.get("class_name") == "Policy":  # mixed precision
        layer_config["dtype"] = dtype.get("config", {}).get("name")
    for key in ("activation", "recurrent_activation"):
        if layer_config.get(key) == "hard_sigmoid":
            layer_config[key] = "keras2_hard_sigmoid"
    if "/" in str(layer_config.get("name", "")):
        layer_config["name"] = layer_config["name"].replace("/", "_")
    if class_name in _MODELS and isinstance(layer_config.get("layers"), list):
        _fix_model(layer_config)
    for value in layer_config.values():  # wrappers (TimeDistributed, Bidirectional)
        if isinstance(value, dict) and "class_name" in value:
            _fix_layer(value)


def _fix_model(model_config):
    renamed = {}
    models = set()
    for entry in model_config["layers"]:
        old = entry.get("name", entry.get("config", {}).get("name"))
        if entry.get("class_name") == "TFOpLambda":
            _as_tensorflow_op(entry)
        _fix_layer(entry)
        new = entry.get("config", {}).get("name", old)
        if old != new:
            renamed[old] = new
        if "name" in entry:
            entry["name"] = new
        if _counts_a_build_node(entry):
            models.add(new)
    for entry in model_config["layers"]:
        for node in entry.get("inbound_nodes") or []:
            for ref in _refs(node):
                _fix_ref(ref, renamed, models)
    for key in ("input_layers", "output_layers"):
        refs = model_config.get(key)
        if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], list):
            refs = model_config[key] = refs[0]  # Keras 2 lists one input; Keras 3 takes it bare
        for ref in [refs] if refs and isinstance(refs[0], str) else refs or []:
            _fix_ref(ref, renamed, ())  # Keras 3 renumbers output references itself


def _as_tensorflow_op(entry):
    """Turn a `TFOpLambda` entry into a `TensorFlowOp` one (in place) when its function is
    in `_TF_OPS` and its one call has only constant arguments; else leave it (refused)."""
    function = entry["config"].get("function")
    nodes = entry.get("inbound_nodes") or []
    if function not in _TF_OPS or len(nodes) != 1 or len(_refs(nodes[0])) != 1:
        return
    ref = _refs(nodes[0])[0]
    if not (isinstance(ref, list) and len(ref) == 4 and isinstance(ref[3], dict)):
        return
    constants = {k: v for k, v in ref[3].items() if k != "name"}
    if not all(_is_constant(v) for v in constants.values()):
        return  # a second tensor (`x * y`): not a constant
    if constants.keys() != set(_TF_OPS[function].__code__.co_varnames[1:]):
        return
    for key in ("module", "registered_name", "build_config"):
        entry.pop(key, None)
    entry["class_name"] = "TensorFlowOp"
    entry["config"] = {"name": entry["config"]["name"], "dtype": entry["config"].get("dtype"),
                       "function": function, "constants": constants}
    ref[3] = {}
    entry["inbound_nodes"] = [[ref]]  # the node format of every other layer


def _counts_a_build_node(entry):
    """Whether Keras 2 gave this nested model a node of its own when it was built (a graph
    network: every Functional model, a Sequential that starts with its InputLayer)."""
    if entry.get("class_name") in ("Functional", "Model"):
        return True
    layers = entry.get("config", {}).get("layers") if entry.get("class_name") == "Sequential" \
        else None
    return bool(layers) and layers[0].get("class_name") == "InputLayer"


def _refs(node):
    """The `[name, node_index, tensor_index, kwargs]` references of one Keras 2 node: a list
    of them, or (a `TFOpLambda`'s call) one reference alone."""
    if not isinstance(node, list):
        return []
    return [node] if node and isinstance(node[0], str) else node


def _is_constant(value):
    if isinstance(value, list):
        return all(_is_constant(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fix_ref(ref, renamed, models):
    if not (isinstance(ref, list) and ref and isinstance(ref[0], str)):
        return
    ref[0] = renamed.get(ref[0], ref[0])
    if ref[0] in models and len(ref) > 1 and isinstance(ref[1], int) and ref[1] > 0:
        ref[1] -= 1  # Keras 2 counts the node a model makes when it is built


# --------------------------------------------------------------------------- files

def _keras_load(path, compile, custom_objects, suffix):
    """`keras.saving.load_model` with safe mode on, from a copy named `*suffix` if needed."""
    with tempfile.TemporaryDirectory() as folder:
        if path.suffix != suffix:
            link = pathlib.Path(folder) / f"model{suffix}"
            os.symlink(path.resolve(), link)
            path = link
        custom_objects = {**_CUSTOM_OBJECTS, **(custom_objects or {})}
        try:
            return keras.saving.load_model(path, custom_objects=custom_objects,
                                           compile=compile, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - any loader failure gets the path
            raise ValueError(f"Keras could not load the model: {type(err).__name__}: "
                             f"{_short(err)} Received: path='{path}'") from err


def _load_h5(path, compile, custom_objects):
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version", b"")
    except OSError as err:
        raise ValueError(f"The HDF5 file cannot be read ({err}); it may be truncated. "
                         f"Received: path='{path}'") from err
    if raw is None:
        raise ValueError("The HDF5 file holds weights only (no model config). Build the "
                         "model in code and call `model.load_weights(path)`. "
                         f"Received: path='{path}'")
    config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    version = version.decode("utf-8") if isinstance(version, bytes) else str(version)
    if version.startswith("3"):  # written by Keras 3: its own loader reads it as it is
        return _keras_load(path, compile, custom_objects, suffix=".h5")
    try:
        fixed = keras2_config(config)
    except ValueError as err:
        text, _, received = str(err).rpartition("Received: ")
        raise type(err)(f"{text}Received: path='{path}', {received}") from None
    if fixed == config:
        return _keras_load(path, compile, custom_objects, suffix=".h5")
    with tempfile.TemporaryDirectory() as folder:
        copy_path = pathlib.Path(folder) / "model.h5"
        shutil.copyfile(path, copy_path)
        with h5py.File(copy_path, "r+") as handle:
            handle.attrs["model_config"] = json.dumps(fixed)
        try:
            return _keras_load(copy_path, compile, custom_objects, suffix=".h5")
        except ValueError as err:
            raise ValueError(str(err).replace(str(copy_path), str(path))) from err.__cause__


def _short(err, limit=600):
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[:limit] + " ..."


# --------------------------------------------------------------------------- SavedModel

def _load_saved_model(path, custom_objects, call_endpoint):
    if not (path / "saved_model.pb").is_file():
        raise ValueError("The directory is not a SavedModel (it has no `saved_model.pb`). "
                         "Pass a `.keras` or `.h5` file or a SavedModel directory. "
                         f"Received: path='{path}'")
    reason = _why_not_rebuilt(path)
    if reason is None:
        model = _rebuild(path, custom_objects)
        if isinstance(model, str):
            reason = model
        else:
            _check_against_signature(model, path, call_endpoint)
            return model
    warnings.warn(
        f"The SavedModel at '{path}' was wrapped in `keras.layers.TFSMLayer` ({reason}): "
        f"model-agnostic methods such as `tfg.Occlusion` explain it, gradient methods cannot "
        f"reach its layers.", SavedModelWarning, stacklevel=3)
    return _wrap(path, call_endpoint)


def _why_not_rebuilt(path):
    """`None` when the SavedModel can be rebuilt with tf_keras, else the reason it cannot."""
    metadata = path / "keras_metadata.pb"
    if not metadata.is_file():
        return "it carries no Keras metadata, so it has no Keras layers to rebuild"
    try:
        from tf_keras.protobuf import saved_metadata_pb2
    except ImportError:
        return ("`tf_keras` is not installed; `pip install \"tf_gradcam[legacy]\"` rebuilds a "
                "Keras 2 SavedModel as a Keras model")
    saved = saved_metadata_pb2.SavedMetadata()
    saved.ParseFromString(metadata.read_bytes())
    for node in saved.nodes:
        class_name = json.loads(node.metadata or "{}").get("class_name")
        if class_name == "Lambda":
            return (f"it holds a `{class_name}` layer, whose code tf_gradcam never executes "
                    f"from a file")
    return None


def _rebuild(path, custom_objects):
    """The Keras 3 model rebuilt from a Keras 2 SavedModel (through a Keras 2 `.h5` file),
    or the reason it cannot be (a string)."""
    import tf_keras

    try:
        legacy = tf_keras.models.load_model(str(path), compile=False,
                                            custom_objects=custom_objects)
    except Exception as err:  # noqa: BLE001 - any failure falls back to TFSMLayer
        return f"tf_keras could not load it: {type(err).__name__}: {_short(err, 200)}"
    with tempfile.TemporaryDirectory() as folder:
        h5_path = pathlib.Path(folder) / "model.h5"
        try:
            with warnings.catch_warnings():  # "HDF5 is legacy": a file of ours, for Keras 3
                warnings.simplefilter("ignore", UserWarning)
                legacy.save(h5_path, include_optimizer=False)
        except Exception as err:  # noqa: BLE001 - revived custom layers have no config
            return (f"its layers have no Keras config ({type(err).__name__}: "
                    f"{_short(err, 200)})")
        try:
            return _load_h5(h5_path, False, custom_objects)
        except _CodeLayerError as err:
            return f"it holds a layer tf_gradcam does not rebuild ({err})"
        except ValueError as err:
            raise ValueError(str(err).replace(str(h5_path), str(path))) from err


def _signature(path, call_endpoint):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    if call_endpoint not in loaded.signatures:
        raise ValueError(f"The SavedModel has no signature {call_endpoint!r}; it has "
                         f"{sorted(loaded.signatures)}. Pass `call_endpoint=` one of them. "
                         f"Received: path='{path}'")
    function = loaded.signatures[call_endpoint]
    specs = function.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"The SavedModel's {call_endpoint!r} signature takes "
                         f"{len(specs)} inputs ({sorted(specs)}); tf_gradcam explains "
                         f"models with one image input. Received: path='{path}'")
    (name, spec), = specs.items()
    return loaded, function, name, spec


def _check_against_signature(model, path, call_endpoint):
    """Raise unless `model` reproduces the SavedModel's signature on a probe batch."""
    loaded, function, name, spec = _signature(path, call_endpoint)
    shape = [2] + [32 if d is None else d for d in spec.shape[1:]]
    probe = np.random.default_rng(0).uniform(-1, 1, shape).astype(spec.dtype.as_numpy_dtype)
    expected = function(**{name: probe})
    got = keras.tree.flatten(model(probe, training=False))
    names = list(getattr(model, "output_names", None) or [])
    want = ([expected[n] for n in names] if sorted(names) == sorted(expected)
            else [expected[k] for k in sorted(expected)])
    if len(want) != len(got):
        raise ValueError(f"The rebuilt model has {len(got)} outputs, the SavedModel's "
                         f"signature {len(want)}. Received: path='{path}'")
    for ours, theirs in zip(got, want):
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        diff = float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else None
        if diff is None or not np.allclose(ours, theirs, atol=ATOL, rtol=RTOL):
            raise ValueError(
                f"The Keras model rebuilt from the SavedModel does not reproduce its "
                f"{call_endpoint!r} signature on a probe batch (max abs diff {diff}, shapes "
                f"{ours.shape} vs {theirs.shape}), so it is not returned. Load it with "
                f"`keras.layers.TFSMLayer` and explain it with `tfg.Occlusion`, or re-save "
                f"it with Keras 3. Received: path='{path}'")
    del loaded


def _wrap(path, call_endpoint):
    """A Keras 3 model around the SavedModel's signature (`TFSMLayer`), one tensor out."""
    _, _, name, spec = _signature(path, call_endpoint)
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=call_endpoint)
    image = keras.Input(batch_shape=tuple(spec.shape), dtype=spec.dtype.name, name=name)
    outputs = layer(image)
    if isinstance(outputs, dict) and len(outputs) == 1:
        outputs, = outputs.values()
    return keras.Model(image, outputs, name=f"savedmodel_{path.name}")
