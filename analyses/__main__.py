import sys

from analyses.runner import main

sys.exit(main())
