"""`python -m tf_gradcam.cli`: the same as the `tf-gradcam` console script."""

import sys

from tf_gradcam.cli.app import main

sys.exit(main())
