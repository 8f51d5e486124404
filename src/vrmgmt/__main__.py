"""python -m vrmgmt: same as the vrmgmt command."""

import sys

from vrmgmt.cli import main

sys.exit(main())
