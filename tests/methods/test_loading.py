"""load_method finds the user's own method class (working directory, PYTHONPATH) without cls=, and imports no
installed module a checkpoint names."""

from __future__ import annotations

import sys

import pytest
import torch

from sslkit.methods import load_method
from sslkit.utils.user_code import ClassImportError

USER_METHOD = '''
from sslkit.methods import SSLMethod


class TinyUserMethod(SSLMethod):
    num_views = (1, 1)

    def training_loss(self, views):
        return {"loss": self.backbone(views[0]).pow(2).mean()}
'''


@pytest.fixture
def user_checkpoint(tmp_path, monkeypatch):
    """A project folder holding ``tiny_user_method.py`` and a checkpoint of it, as ``sslkit fit`` writes."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "tiny_user_method.py").write_text(USER_METHOD)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "tiny_user_method", raising=False)
    monkeypatch.syspath_prepend(str(project))
    import tiny_user_method

    model = tiny_user_method.TinyUserMethod(backbone="tiny_cnn", backbone_kwargs={"widths": [4, 8]})
    path = project / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {**model.hparams,
                "_class_path": "tiny_user_method.TinyUserMethod"}}, path)
    sys.path.remove(str(project))
    del sys.modules["tiny_user_method"]
    return project, path, model


def test_loads_a_user_class_from_the_working_directory(user_checkpoint, monkeypatch):
    project, path, model = user_checkpoint
    monkeypatch.chdir(project)
    loaded = load_method(path)  # no cls=
    assert type(loaded).__name__ == "TinyUserMethod" and type(loaded).__module__ == "tiny_user_method"
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_loads_a_user_class_from_pythonpath(user_checkpoint, monkeypatch, tmp_path):
    project, path, _ = user_checkpoint
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(project))
    assert type(load_method(path)).__name__ == "TinyUserMethod"


def test_a_user_class_out_of_reach_names_the_module_and_the_fix(user_checkpoint, monkeypatch, tmp_path):
    _, path, _ = user_checkpoint
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    with pytest.raises(ClassImportError, match=r"No module named 'tiny_user_method'\. Run from the folder that holds "
                                               r"tiny_user_method\.py, add that folder to PYTHONPATH, or pass cls="):
        load_method(path)


def test_an_installed_module_is_not_imported_on_a_files_word(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "turtledemo", raising=False)
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": "turtledemo.Method"}}, path)
    with pytest.raises(ClassImportError, match="outside sslkit and not in the working directory"):
        load_method(path)
    assert "turtledemo" not in sys.modules
