import stat
from pathlib import Path

import pytest

from hub.errors import AuthError
from hub.secretfile import load_or_create


def test_made_once_private_and_truncation_refused(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.secret"
    made = iter(["a" * 40, "b" * 40])
    first = load_or_create(path, lambda: next(made), min_length=32, error=AuthError)
    assert first == "a" * 40 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create(path, lambda: next(made), min_length=32, error=AuthError) == first
    path.write_text("short\n")
    with pytest.raises(AuthError, match="no usable secret"):
        load_or_create(path, lambda: next(made), min_length=32, error=AuthError)
