"""``pvshare allocate`` (being written)."""
def allocate() -> None:
    raise NotImplementedError
