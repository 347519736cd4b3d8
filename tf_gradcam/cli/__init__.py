"""`tf-gradcam`: the command line. See docs/cli.md.

One module per command (`explain`, `layers`, `demo`, `export`, `evaluate`, `report`), each with
`add_parser(subparsers)` and `run(args)`; `app` builds the parser and dispatches; `common` holds
what they share (exit codes, model loading, options, quiet TensorFlow start-up) and imports
none of them. Only the standard library is imported until a command runs: `--help`,
`--version` and usage errors never load TensorFlow.

Exit status: 0 when everything was explained, 1 when some files failed, 2 for usage errors,
130 when the run was interrupted (Ctrl-C or SIGTERM; the summary lists what was finished).
"""

from tf_gradcam.cli.app import build_parser, main
from tf_gradcam.cli.common import (EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE,
                                   UsageError, load_model, quiet_tensorflow)

__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_SOME_FAILED", "EXIT_USAGE", "UsageError",
           "build_parser", "load_model", "main", "quiet_tensorflow"]
