"""README's "Add a method" checklist, tried: a new method in a copy of the package touches only its
own files.

The test copies maml_lite/ to a temporary folder, adds ONE method module and ONE recipe (nothing
else is edited), then uses the copy as a user would: the method is found by name, the CLI trains it
from its recipe and writes a checkpoint with its card, which loads back as (model, method) and is
scored by `evaluate` through the method's own adaptation. If adding a method needed a change
anywhere else (a hand-kept list of methods, a switch on names), this would fail.
"""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import maml_lite as ml

pytestmark = pytest.mark.slow  # trains a method in a subprocess

METHOD = '''
"""Sign-step MAML, the method the README's checklist test adds: each inner step moves every weight
by inner_lr in the direction of its gradient's sign (signSGD)."""

import torch

from maml_lite.adapt import mse
from maml_lite.method import MAML
from maml_lite.model import predict


class SignStep(MAML):
    """MAML with signSGD as its inner step: theta - alpha * sign(grad L_support(theta))."""

    name = "sign_step"

    def step(self, model, params, x_support, y_support, create_graph):
        with torch.enable_grad():
            params = {n: p if p.requires_grad else p.detach().requires_grad_()
                      for n, p in params.items()}
            loss = mse(predict(model, params, x_support), y_support)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=create_graph)
        return {n: p - self.inner_lr * g.sign() for (n, p), g in zip(params.items(), grads)}
'''

RECIPE = '''
# A test recipe: MAML with sign steps.
[method]
name = "sign_step"
inner_steps = 1
inner_lr = 0.005        # every weight moves by this much per step

[training]
k_shot = 5
iterations = 5          # a smoke run
meta_batch = 4

[card]
eval_tasks = 10
fresh_tasks = 20
'''


def test_adding_a_method_touches_only_its_own_files(tmp_path):
    package = tmp_path / "maml_lite"
    shutil.copytree(Path(ml.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    (package / "methods" / "sign_step.py").write_text(textwrap.dedent(METHOD))
    (package / "recipes" / "sign_step.toml").write_text(textwrap.dedent(RECIPE))
    out = package / "checkpoints" / "sign_step.pt"
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "maml_lite.cli", "--recipe", "sign_step",
                          "--out", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    check = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import json, maml_lite as ml
        from maml_lite.methods import methods
        model, method = ml.load_pretrained("sign_step")
        card = ml.model_card("sign_step")
        result = ml.evaluate(model, 5, n_tasks=10, method=method)
        print(json.dumps({"found": "sign_step" in methods(),
                          "shipped": "sign_step" in ml.PRETRAINED,
                          "type": type(method).__name__, "card_method": card["method"],
                          "same": result.mean == card["evaluation"]["K=5"]["mean"]}))
        """)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-2000:]
    assert json.loads(check.stdout) == {"found": True, "shipped": True, "type": "SignStep",
                                        "card_method": "sign_step", "same": True}
    after = {p.relative_to(package): p.read_bytes() for p in package.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts}
    changed = {p for p in before if after.get(p) != before[p]}
    added = set(after) - set(before)
    assert not changed, f"adding a method edited {sorted(map(str, changed))}"
    assert added == {Path("methods/sign_step.py"), Path("recipes/sign_step.toml"),
                     Path("checkpoints/sign_step.pt"),
                     Path("checkpoints/sign_step.json")}, sorted(map(str, added))
