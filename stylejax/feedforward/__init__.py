"""Feed-forward networks outside training: applying a trained run (cin: `transfer`; adain and its
release: `adain_stylizer`; any arbitrary-style model, Magenta's included: `arbitrary`), the training data
every method reads (`data`), and the local multi-process launcher (`launch_local`)."""
