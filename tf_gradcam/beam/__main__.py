"""`python -m tf_gradcam.beam --input ... --model ... --output ... [Beam options]`."""

import sys

from tf_gradcam.beam.pipeline import main

sys.exit(main())
