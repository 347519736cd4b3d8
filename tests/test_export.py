"""SavedModel export: all four signatures, in a fresh process, through the CLI tools and REST JSON."""

import base64
import json
import pathlib
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import export, serving, synthetic


@pytest.fixture(scope="module")
def exported(shapes_model, tmp_path_factory):
    cam = tfg.GradCAM(shapes_model)
    path = tfg.export_saved_model(cam, tmp_path_factory.mktemp("serving") / "gradcam" / "1")
    return cam, path


def _png(image):
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_round_trip_in_a_new_process(exported, tmp_path):
    cam, path = exported
    images = synthetic.make_scenes(4, seed=21).images
    np.save(tmp_path / "images.npy", images.astype(np.float32))
    np.save(tmp_path / "classes.npy", np.array([-1, 0, 1, -1], np.int32))
    (tmp_path / "jpeg.bin").write_bytes(
        cv2.imencode(".jpg", cv2.cvtColor(images[0], cv2.COLOR_RGB2BGR))[1].tobytes())
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(path)!r})
        x = np.load({str(tmp_path / 'images.npy')!r}); c = np.load({str(tmp_path / 'classes.npy')!r})
        out = loaded.signatures["explain_class"](images=tf.constant(x), class_index=tf.constant(c))
        top1 = loaded.signatures["serving_default"](images=tf.constant(x))
        data = open({str(tmp_path / 'jpeg.bin')!r}, "rb").read()
        raw = loaded.signatures["explain_image"](image_bytes=tf.constant([data]))
        raw_class = loaded.signatures["explain_image_class"](image_bytes=tf.constant([data]),
                                                             class_index=tf.constant([1]))
        np.savez({str(tmp_path / 'out.npz')!r}, **{{k: v.numpy() for k, v in out.items()}},
                 png=raw["overlay_png"].numpy()[0], bytes_heat=raw["heatmaps"].numpy(),
                 top1=top1["class_index"].numpy(), top1_heat=top1["heatmaps"].numpy(),
                 bytes_class=raw_class["class_index"].numpy())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    got = np.load(tmp_path / "out.npz")
    top1 = cam.explain(images).class_index
    want = cam.explain(images, class_index=[int(top1[0]), 0, 1, int(top1[3])])
    np.testing.assert_array_equal(got["class_index"], want.class_index)
    np.testing.assert_allclose(got["heatmaps"], want.heatmaps, atol=1e-4)
    np.testing.assert_allclose(got["scores"], want.scores, rtol=1e-5)
    np.testing.assert_allclose(got["predictions"], want.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], want.probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["top1"], top1)  # no class input at all
    np.testing.assert_allclose(got["top1_heat"], cam.explain(images).heatmaps, atol=1e-4)
    assert got["bytes_class"].tolist() == [1]
    overlay = cv2.imdecode(np.frombuffer(got["png"].tobytes(), np.uint8), cv2.IMREAD_COLOR)
    assert overlay.shape == (64, 64, 3)
    # JPEG is lossy: the map from decoded bytes is close to the one from the exact pixels.
    assert np.corrcoef(got["bytes_heat"][0].ravel(), want.heatmaps[0].ravel())[0, 1] > 0.95


def test_saved_model_cli_show_and_run(exported, tmp_path):
    _, path = exported
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    if not cli.exists():
        pytest.skip("saved_model_cli is not installed next to this Python")
    shown = subprocess.run([str(cli), "show", "--dir", str(path), "--all"],
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = shown.stdout
    for expected in ("signature_def['serving_default']", "signature_def['explain_image']",
                     "signature_def['explain_class']", "signature_def['explain_image_class']",
                     "inputs['images'] tensor_info:", "dtype: DT_FLOAT",
                     "shape: (-1, 64, 64, 3)", "inputs['image_bytes'] tensor_info:",
                     "dtype: DT_STRING", "outputs['heatmaps'] tensor_info:",
                     "shape: (-1, 64, 64)", "outputs['overlay_png'] tensor_info:"):
        assert expected in text, expected
    np.save(tmp_path / "x.npy", synthetic.make_scenes(2, seed=3).images.astype(np.float32))
    np.save(tmp_path / "c.npy", np.array([-1, 1], np.int32))
    run = subprocess.run([str(cli), "run", "--dir", str(path), "--tag_set", "serve",
                          "--signature_def", "explain_class", "--inputs",
                          f"images={tmp_path / 'x.npy'};class_index={tmp_path / 'c.npy'}",
                          "--outdir", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert np.load(tmp_path / "run" / "heatmaps.npy").shape == (2, 64, 64)
    assert np.load(tmp_path / "run" / "class_index.npy")[1] == 1


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported[1]))


def fake_tf_serving(loaded, body):
    """What TF Serving does with a row-format REST request, in miniature."""
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    columns = {}
    for instance in body["instances"]:
        for key, value in instance.items():
            columns.setdefault(key, []).append(
                base64.b64decode(value["b64"]) if isinstance(value, dict) else value)
    specs = signature.structured_input_signature[1]
    inputs = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()}
    outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
    rows = []
    for i in range(len(body["instances"])):
        row = {}
        for key, value in outputs.items():
            item = value[i]
            row[key] = ({"b64": base64.b64encode(item).decode()} if isinstance(item, bytes)
                        else item.tolist())
        rows.append(row)
    return json.loads(json.dumps({"predictions": rows}))


def test_rest_json_bytes_request(loaded, exported):
    cam, _ = exported
    scenes = synthetic.make_scenes(2, seed=8, both=True)
    gray = cv2.imencode(".png", cv2.cvtColor(scenes.images[1], cv2.COLOR_RGB2GRAY))[1]
    body = serving.request_bytes([_png(scenes.images[0]), gray.tobytes()], class_index=[0, 1])
    result = serving.parse_response(fake_tf_serving(loaded, body))
    assert [int(r["class_index"]) for r in result] == [0, 1]
    exact = cam.explain(scenes.images[0], class_index=0)
    np.testing.assert_allclose(result[0]["heatmaps"], exact.heatmaps, atol=1e-4)  # PNG: exact
    assert result[0]["overlay_png"].startswith(b"\x89PNG")
    assert result[1]["heatmaps"].shape == (64, 64)


def test_rest_json_pixels_request(loaded, exported):
    cam, _ = exported
    images = synthetic.make_scenes(2, seed=9).images
    result = serving.parse_response(fake_tf_serving(loaded, serving.request_images(images)))
    exact = cam.explain(images)
    np.testing.assert_allclose(np.stack([r["heatmaps"] for r in result]), exact.heatmaps,
                               atol=1e-4)


def test_corrupt_bytes_fail_that_request_only(loaded):
    signature = loaded.signatures["explain_image"]
    with pytest.raises(tf.errors.InvalidArgumentError):
        signature(image_bytes=tf.constant([b"not an image"]))
    ok = signature(image_bytes=tf.constant([_png(synthetic.make_scenes(1).images[0])]))
    assert ok["heatmaps"].shape == (1, 64, 64)


def _png_header(width, height):
    """A PNG that declares `width` x `height` pixels (signature and IHDR only)."""
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr
            + struct.pack(">I", zlib.crc32(ihdr)))


def test_header_pixels_reads_each_format_without_decoding():
    from PIL import Image
    import io

    image = np.zeros((30, 47, 3), np.uint8)
    encoded = {ext: cv2.imencode(ext, image)[1].tobytes() for ext in (".jpg", ".png", ".bmp")}
    gif = io.BytesIO()
    Image.fromarray(image).save(gif, format="GIF")
    encoded[".gif"] = gif.getvalue()
    for ext, data in encoded.items():
        assert int(export.header_pixels(tf.constant(data))) == 30 * 47, ext
    assert int(export.header_pixels(tf.constant(_png_header(30000, 30000)))) == 9 * 10**8
    assert int(export.header_pixels(tf.constant(b"not an image"))) == 0
    assert int(export.header_pixels(tf.constant(b""))) == 0


def test_bytes_signature_refuses_an_image_over_the_pixel_budget(loaded, shapes_model, tmp_path):
    signature = loaded.signatures["explain_image"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
        signature(image_bytes=tf.constant([_png_header(30000, 30000)]))  # 900 MP > 100 MP
    small = tfg.export_saved_model(tfg.GradCAM(shapes_model), tmp_path / "small",
                                   max_pixels=64 * 64 - 1)
    jpeg = cv2.imencode(".jpg", synthetic.make_scenes(1).images[0])[1].tobytes()
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
        tf.saved_model.load(str(small)).signatures["explain_image"](
            image_bytes=tf.constant([jpeg]))
    with pytest.raises(ValueError, match="max_pixels"):
        tfg.export_saved_model(tfg.GradCAM(shapes_model), tmp_path / "bad", max_pixels=0)


def test_requests_without_a_class_use_the_top1_signatures():
    assert serving.request_images(np.zeros((1, 2, 2, 3)))["signature_name"] == "serving_default"
    body = serving.request_bytes([b"x"])
    assert body["signature_name"] == "explain_image" and "class_index" not in body["instances"][0]
    assert serving.request_bytes([b"x"], 3)["instances"][0]["class_index"] == 3


def test_segmentation_and_binary_models_export(tmp_path):
    import keras
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="f")(inp)
    segmenter = keras.Model(inp, keras.layers.Conv2D(3, 1, activation="softmax")(features))
    binary = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.GlobalAveragePooling2D()(features)))
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    for name, model in (("seg", segmenter), ("bin", binary)):
        cam = tfg.GradCAM(model)
        loaded = tf.saved_model.load(str(tfg.export_saved_model(cam, tmp_path / name)))
        out = loaded.signatures["explain_class"](images=tf.constant(x),
                                                 class_index=tf.constant([0, 1]))
        want = cam.explain(x, class_index=[0, 1])
        np.testing.assert_allclose(out["heatmaps"].numpy(), want.heatmaps, atol=1e-4)
        np.testing.assert_allclose(out["scores"].numpy(), want.scores, rtol=1e-4, atol=1e-5)


def test_export_refuses_a_non_empty_folder(exported):
    cam, path = exported
    with pytest.raises(ValueError, match="is not empty"):
        tfg.export_saved_model(cam, path)


def test_guided_gradcam_is_not_exportable(shapes_model, tmp_path):
    with pytest.raises(ValueError, match="Export a `GradCAM` instead"):
        tfg.export_saved_model(tfg.GuidedGradCAM(shapes_model), tmp_path / "g")
