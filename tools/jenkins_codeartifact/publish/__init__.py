"""``ca-publish``: build sdist + wheel (:mod:`.build`), upload them (:mod:`.upload`), the flow (:mod:`.flow`)."""
