"""The host driver over a fake transport: protocol bytes, golden check, short answers."""

import numpy as np
import pytest

from spikeforge.boards.host import BoardClient
from spikeforge.errors import ToolchainError
from spikeforge.golden import run
from spikeforge.synthetic import random_netspec


class FakeBoard:
    """Answers each image with the golden counts (or wrong ones) and a fixed latency."""

    def __init__(self, spec, corrupt=False, short=False):
        self.spec, self.corrupt, self.short = spec, corrupt, short
        self.sent = []
        self.pending = b""

    def write(self, data):
        self.sent.append(bytes(data))
        counts = run(self.spec, np.frombuffer(data, dtype=np.uint8).astype(np.int64)[None]).counts[0]
        if self.corrupt:
            counts = counts.copy()
            counts[1] += 1
        self.pending = bytes(int(c) for c in counts) + (1234).to_bytes(4, "little")

    def read(self, size):
        answer = self.pending[:size - 2] if self.short else self.pending[:size]
        self.pending = b""
        return answer


SPEC = random_netspec(seed=2, sizes=(6, 5, 3), timesteps=4, input_bits=5, input_max=16)
IMAGES = np.random.default_rng(2).integers(0, 17, (3, 6))


def test_images_go_out_one_byte_per_value_and_counts_come_back():
    board = FakeBoard(SPEC)
    result = BoardClient(SPEC, board).run(IMAGES)
    assert board.sent == [bytes(int(v) for v in image) for image in IMAGES]
    assert result.counts == run(SPEC, IMAGES).counts.tolist()
    assert result.cycles == [1234] * 3 and result.mismatches == []


def test_a_wrong_count_is_named():
    result = BoardClient(SPEC, FakeBoard(SPEC, corrupt=True)).run(IMAGES, image_ids=[10, 11, 12])
    assert result.mismatches[0].startswith("image 10: layer fc2, neuron 1, spike count over time steps 0..3: golden")
    assert len(result.mismatches) == 3


def test_a_short_answer_is_a_clear_error():
    with pytest.raises(ToolchainError, match=r"board did not answer in time at serial link: expected 7 bytes \(3 counts \+ 4 latency bytes\), found 5 bytes"):
        BoardClient(SPEC, FakeBoard(SPEC, short=True)).infer(IMAGES[0])
