"""A decoy: the book's own ``dataset`` package. xpnn.book must serve ``dataset`` instead, so
importing this is an error."""

raise ImportError("the decoy tests/book_repo/dataset was imported: xpnn.book did not serve it")
