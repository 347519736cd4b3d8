"""`tf-gradcam export MODEL DIR`: a SavedModel for TF Serving (`tf_gradcam.export`)."""

from tf_gradcam.cli import common


def add_parser(sub):
    parser = sub.add_parser("export", help="write a SavedModel for TF Serving")
    parser.add_argument("model", help="a .keras model file (loaded in safe mode)")
    parser.add_argument("export_dir", help="e.g. models/gradcam/1 (TF Serving layout)")
    common.add_model_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args):
    model = common.load_model(args.model)
    from tf_gradcam import export, registry

    try:
        explainer = registry.get(args.method)(model, args.layer, preprocess=args.preprocess,
                                              output=args.output)
        path = export.export_saved_model(explainer, args.export_dir, colormap=args.colormap,
                                         alpha=args.alpha)
    except (ValueError, TypeError) as err:
        raise common.UsageError(str(err)) from err
    print(f"exported {explainer!r} to {path} (signatures: serving_default, explain_class, "
          "explain_image, explain_image_class)")
    return common.EXIT_OK
