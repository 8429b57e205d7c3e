"""Writing signatures: the runner of signatures' embedded tests (and the KB draft tool)."""
