"""The live playground: models adapting to K points you sample or click, step by step.

logic.py is plain Python (sample points; `update` -> a read-only `State`), testable without a
browser; view.py is the widget (`Playground`: core ipywidgets around canvas.py's clickable canvas).
Taught in notebooks/04_live_adaptation.ipynb; apps/ serve it with Voila.
"""

from .logic import MAX_STEPS, MODELS, N_GRID, State, load_models, sample_points, update
from .view import Playground

__all__ = ["MAX_STEPS", "MODELS", "N_GRID", "Playground", "State", "load_models", "sample_points",
           "update"]
