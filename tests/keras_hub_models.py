"""Small random-weight KerasHub task models (offline), shared by the detection, depth and
segmentation tests and `benchmarks/detection.py`."""

import keras


def hub():
    import keras_hub  # noqa: PLC0415 - optional test dependency

    return keras_hub


def resnet_encoder(size=None, seed=0):
    keras.utils.set_random_seed(seed)
    return hub().models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16, 16, 16], stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(size, size, 3))


def deeplab(size=None, classes=3, seed=0):
    """`DeepLabV3ImageSegmenter`; `size=None` is KerasHub's default `(None, None, 3)`."""
    kh = hub()
    encoder = resnet_encoder(size, seed)
    backbone = kh.models.DeepLabV3Backbone(
        image_encoder=encoder, spatial_pyramid_pooling_key="P4", upsampling_size=4,
        dilation_rates=[1, 2], low_level_feature_key="P2", projection_filters=8,
        image_shape=(size, size, 3))
    return kh.models.DeepLabV3ImageSegmenter(backbone=backbone, num_classes=classes)


def retinanet(size=64, classes=3, seed=0):
    kh = hub()
    encoder = resnet_encoder(size, seed)
    backbone = kh.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=4, use_p5=False,
        image_shape=(size, size, 3))
    keras.utils.set_random_seed(seed + 1)
    return kh.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=classes, pre_logits_num_conv_layers=1)


def dfine(size=64, classes=3, seed=0):
    kh = hub()
    DFineBackbone, DFineObjectDetector = kh.models.DFineBackbone, kh.models.DFineObjectDetector

    keras.utils.set_random_seed(seed)
    hgnet = kh.models.HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[[8, 8, 16, 1, 3, 3], [16, 16, 32, 1, 3, 3],
                                 [32, 16, 64, 1, 3, 3], [64, 16, 64, 1, 3, 3]],
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True], depths=[1, 1, 1, 1],
        hidden_sizes=[16, 32, 64, 64], embedding_size=8, use_learnable_affine_block=True,
        hidden_act="relu", image_shape=(size, size, 3), out_features=["stage3", "stage4"])
    backbone = DFineBackbone(
        backbone=hgnet, decoder_in_channels=[16, 16], encoder_hidden_dim=16,
        num_denoising=0, num_labels=classes, hidden_dim=16, learn_initial_query=False,
        num_queries=10, anchor_image_size=(size, size), feat_strides=[16, 32],
        num_feature_levels=2, encoder_in_channels=[64, 64], encode_proj_layers=[1],
        num_attention_heads=2, encoder_ffn_dim=32, num_encoder_layers=1,
        hidden_expansion=0.34, depth_multiplier=0.5, eval_idx=-1, num_decoder_layers=1,
        decoder_attention_heads=2, decoder_ffn_dim=32, decoder_n_points=[2, 2],
        lqe_hidden_dim=8, num_lqe_layers=2, out_features=["stage3", "stage4"],
        image_shape=(size, size, 3))
    return DFineObjectDetector(backbone=backbone, num_classes=classes,
                               bounding_box_format="yxyx")


def depth_anything(size=112, seed=0):
    kh = hub()
    keras.utils.set_random_seed(seed)
    encoder = kh.models.DINOV2Backbone(
        patch_size=14, num_layers=4, hidden_dim=16, num_heads=2, intermediate_dim=32,
        image_shape=(size, size, 3), position_embedding_shape=(518, 518))
    backbone = kh.models.DepthAnythingBackbone(
        image_encoder=encoder, reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_dims=[8, 8, 8, 8], fusion_hidden_dim=8, head_hidden_dim=8,
        head_in_index=-1, feature_keys=["stage1", "stage2", "stage3", "stage4"])
    return kh.models.DepthAnythingDepthEstimator(backbone=backbone, depth_estimation_type="relative")


def tape_gradcam(forward, images, score):
    """Grad-CAM written out with `tf.GradientTape`, one image at a time, independent of the
    library: `forward(x) -> (A, outputs)` runs the model's own layers by hand (A, the
    feature map, computed on the way), `score(outputs, i)` is image i's scalar score."""
    import numpy as np  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    cams = []
    for i, image in enumerate(images):
        with tf.GradientTape() as tape:
            a, outputs = forward(tf.constant(image[None], tf.float32))
            score_i = score(outputs, i)
        g = tape.gradient(score_i, a)[0].numpy()
        weights = g.mean(axis=(0, 1))  # spatial mean of the gradient, per channel
        cams.append(np.maximum((weights * a[0].numpy()).sum(axis=-1), 0.0))  # ReLU(sum w A)
    return np.stack(cams)


def pearson(a, b):
    import numpy as np  # noqa: PLC0415

    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])
