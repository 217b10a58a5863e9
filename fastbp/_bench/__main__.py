import sys

from fastbp._bench._main import main

sys.exit(main())
