import os

import pytest
import torch

# Two cores here: keep every test's torch to the same, so runs are comparable and CI is not oversubscribed.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tracking_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="session")
def tiny_dataset():
    from alflow.data import build_synthetic

    return build_synthetic(n_images=120, image_size=32, defect_fraction=0.25, seed=0)
