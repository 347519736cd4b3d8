"""The `tf-gradcam` parser and entry point: one `add_parser` per command module."""

import argparse
import sys

from tf_gradcam.cli import common, demo, evaluate, explain, export, layers, report

#: The commands, in the order `--help` lists them.
COMMANDS = (demo, explain, layers, export, evaluate, report)


def _version():
    from importlib import metadata

    try:
        return metadata.version("tf_gradcam")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


def build_parser():
    """The `tf-gradcam` argument parser (standard library only: no TensorFlow)."""
    parser = argparse.ArgumentParser(prog="tf-gradcam", description="Grad-CAM for Keras models.")
    parser.add_argument("--version", action="version", version=f"tf-gradcam {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the `tf-gradcam` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except common.UsageError as err:
        print(f"tf-gradcam: error: {err}", file=sys.stderr)
        return common.EXIT_USAGE
    except KeyboardInterrupt:
        print("tf-gradcam: aborted", file=sys.stderr)
        return common.EXIT_INTERRUPTED
