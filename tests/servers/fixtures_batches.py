"""Session fixtures for the batch-exchange folders of the test bed (``tests/servers/batches.py``).

Each folder is built the first time a test asks for it and removed, with its keys, at the end of
the session.  Under xdist each worker builds its own copies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.base import serve
from tests.servers.batches import BatchFolder, build_batches

__all__ = ["batches_bad", "batches_bad_encrypted", "batches_good", "batches_good_age", "batches_good_gpg"]


@pytest.fixture(scope="session")
def batches_good() -> Iterator[BatchFolder]:
    """A plain JSONL exchange that keeps the convention (newest an hour old); see ``build_batches``."""
    yield from serve(build_batches("good"))


@pytest.fixture(scope="session")
def batches_bad() -> Iterator[BatchFolder]:
    """A plain JSONL exchange breaking the convention once per defect: ``admin["defects"]`` says where."""
    yield from serve(build_batches("bad"))


@pytest.fixture(scope="session")
def batches_good_gpg() -> Iterator[BatchFolder]:
    """A good exchange whose data files are ``gpg --symmetric`` ciphertext (passphrase in ``env``)."""
    yield from serve(build_batches("good", "batches-good-gpg", encrypted=True, tool="gpg"))


@pytest.fixture(scope="session")
def batches_good_age() -> Iterator[BatchFolder]:
    """A good exchange whose data files are ``age`` ciphertext (identity in ``admin["age_identity"]``)."""
    yield from serve(build_batches("good", "batches-good-age", encrypted=True, tool="age"))


@pytest.fixture(scope="session")
def batches_bad_encrypted() -> Iterator[BatchFolder]:
    """An exchange that must be encrypted (gpg) with one file that never was: ``admin["defects"]["plaintext"]``."""
    yield from serve(build_batches("bad", "batches-bad-encrypted", encrypted=True, tool="gpg"))
