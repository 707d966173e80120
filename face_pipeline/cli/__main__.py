import sys

from face_pipeline.cli.main import main

sys.exit(main())
