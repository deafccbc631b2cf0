import os

import pytest
import torch

# Tests are small; one thread keeps them predictable on a shared 2-core machine.
torch.set_num_threads(int(os.environ.get("SPADE_TEST_THREADS", "1")))


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    return torch.Generator().manual_seed(0)
