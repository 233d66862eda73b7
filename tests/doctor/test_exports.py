"""The doctor's public API is what ``__all__`` says it is."""

from __future__ import annotations

import trainwell.doctor as doctor
import trainwell.doctor.checks as checks


def test_all_names_exist_and_public_names_are_listed() -> None:
    for module in (doctor, checks):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert hasattr(module, name), name
    public = {n for n in dir(checks) if n.startswith("check_")}
    assert public <= set(checks.__all__)


def test_subpackage_import_from_trainwell() -> None:
    from trainwell import doctor as imported

    assert imported.watch is doctor.watch
