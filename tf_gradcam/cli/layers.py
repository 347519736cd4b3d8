"""`tf-gradcam layers MODEL`: the layers Grad-CAM can explain, and the automatic choice."""

from tf_gradcam.cli import common


def add_parser(sub):
    parser = sub.add_parser("layers", help="list the layers Grad-CAM can explain")
    parser.add_argument("model", help="a .keras model file")
    parser.set_defaults(func=run)
    return parser


def run(args):
    model = common.load_model(args.model)
    from tf_gradcam import layers

    try:
        infos = layers.list_layers(model)
        auto = layers.automatic_layer(model)
    except (ValueError, TypeError) as err:
        raise common.UsageError(str(err)) from err
    print(f"{'':2}{'layer':48} {'output shape':22} nested")
    for info in layers.candidates(infos):
        mark = "*" if info.path == auto else " "
        shape = str((None,) + info.shape)
        print(f"{mark:2}{info.path:48} {shape:22} {'yes' if info.nested else 'no'}")
    print(f"* automatic choice (layer=None): {auto}")
    return common.EXIT_OK
