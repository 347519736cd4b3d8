"""`tf-gradcam report OUT`: rebuild a run's `OUT/index.html` from its summary."""

import pathlib
import time

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
    from tf_gradcam import report

    return report.write_report(out)


class Refresh:
    """`write_report(out)` during a run, at most ~1/`ratio` of the run's time: after a batch
    it runs only when `ratio` times its last cost has passed since it last ran (the page
    reads the whole summary, so on a long run it grows slower; the run does not). `force=True`
    runs it anyway (the start and the end of a run)."""

    def __init__(self, out, ratio=10.0):
        self.out, self.ratio = out, ratio
        self.calls, self.seconds, self._next = 0, 0.0, 0.0

    def __call__(self, force=False):
        start = time.perf_counter()
        if not force and start < self._next:
            return
        write_report(self.out)
        took = time.perf_counter() - start
        self.calls, self.seconds = self.calls + 1, self.seconds + took
        self._next = start + took * (1 + self.ratio)
