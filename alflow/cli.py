"""The ``alflow`` command (and ``python -m alflow``): ``alflow label ...`` starts a labeling session
(``alflow.label_app``), anything else runs one experiment job or a Hydra sweep (``alflow.app``).
Its own module so that neither entry point imports the other."""
from __future__ import annotations

import sys


def main() -> float | None:
    """Dispatch on the first argument; returns the job's best validation AUROC (what a Hydra sweeper optimises)."""
    if len(sys.argv) > 1 and sys.argv[1] == "label":
        from alflow.label_app import main as label_main

        sys.argv.pop(1)
        return label_main()
    from alflow.app import experiment_main

    return experiment_main()
