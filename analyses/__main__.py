"""``python -m analyses``: the command line of :mod:`analyses.runner`."""

import sys

from analyses import interrupts

with interrupts.handling_interrupts():  # already while PyMC & co. load: a Ctrl-C then is one line too
    try:
        from analyses.runner import main

        interrupts.checkpoint()  # a Ctrl-C that an import caught and ignored
    except KeyboardInterrupt:
        print("interrupted before any analysis started; nothing was changed", file=sys.stderr)
        interrupts.exit_interrupted()
    code = main()
if code == 130:
    interrupts.exit_interrupted()
sys.exit(code)
