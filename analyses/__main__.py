import sys

from analyses._runner import main

sys.exit(main())
