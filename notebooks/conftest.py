"""The test suite runs each notebook headless (nbmake) in its quick configuration: the parameter cell
reads this variable."""

import os

os.environ["GENLAB_NOTEBOOK_QUICK"] = "1"
