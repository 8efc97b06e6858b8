# The two commands a user needs; both install everything into .venv/ first (see README.md).
.PHONY: lab test check notebooks slides book help
help:
	@echo "make lab        install everything, then open JupyterLab on your copies of the notebooks (my-notebooks/)"
	@echo "make test       install everything, then run every check CI runs (about 20 minutes on 2 cores)"
	@echo "make check      for contributors: lint, fast unit tests, nbval on the notebooks you touched (about 3 min)"
	@echo "make notebooks  re-execute the notebooks in place (their committed outputs are what nbval compares)"
	@echo "make slides     one reveal.js deck per notebook in artifacts/slides/ (a slide per section and subsection)"
	@echo "make book       the course website (Jupyter Book) in artifacts/book/"
lab:
	bash .ci/lab
test:
	bash .ci/test
check:
	bash .ci/check
notebooks:
	bash .ci/execute-notebooks
slides:
	.venv/bin/python .ci/slides.py
book:
	.venv/bin/python .ci/book.py
