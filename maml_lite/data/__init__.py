"""Data shipped with maml_lite: omniglot28.npz (see README.md here) and the script that builds
it."""
