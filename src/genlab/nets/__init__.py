"""Plain nn.Modules: tensors in, tensors out; no Lightning, config or logging here."""
