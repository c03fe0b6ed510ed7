"""``python -m alflow`` runs one job; ``python -m alflow -m`` a Hydra multirun sweep."""
from alflow.app import main

if __name__ == "__main__":
    main()
