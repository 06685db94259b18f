"""Trained methods, one module each (cin, adain, ghiasi), behind one interface (`base.Method`) and one
registry (`registry`): the kind-agnostic loop in `stylejax.training` trains any of them."""
