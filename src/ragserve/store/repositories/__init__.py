"""One repository per table. Reach them through :class:`~ragserve.store.catalog.Catalog`."""
