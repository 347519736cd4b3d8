"""`tf-gradcam demo`: explain a built-in scene with the bundled model (offline)."""

import time

from tf_gradcam.cli import common


def add_parser(sub):
    parser = sub.add_parser("demo", help="explain a built-in scene with a built-in model")
    parser.add_argument("--out", default="tf_gradcam_demo", help="output folder")
    parser.set_defaults(func=run)
    return parser


def run(args):
    common.quiet_tensorflow()
    from tf_gradcam import demo

    start = time.perf_counter()
    paths = demo.run(args.out)
    for path in paths:
        print(path)
    print(f"demo finished in {time.perf_counter() - start:.1f} s; figure: {paths[-1]}")
    return common.EXIT_OK
