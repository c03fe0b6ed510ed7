"""``python -m alflow`` runs one job; ``python -m alflow -m`` a Hydra multirun sweep; ``python -m alflow label``
a labeling session."""
from alflow.cli import main

if __name__ == "__main__":
    main()
